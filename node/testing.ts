/**
 * Test helpers: start real `codenet peer` processes on 127.0.0.1 (mDNS off, bootstrap to the
 * first peer), watch their progress lines, kill and restart them.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, appendFileSync, existsSync } from 'node:fs'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from './store.ts'
import { jobKeyFromPem, signTicket } from '../protocols/admission.ts'
import { jobHash, parseJobSpec } from '../protocols/job.ts'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import type { KeyObject } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from './peer.ts'
import { controlLibp2pKey } from './control-auth.ts'
import { controlRequest } from '../protocols/control.ts'
import { parsePeerStatus, type PeerStatus } from '../protocols/status.ts'
import { weightsMaxAbsDiff as weightsDistance } from '../training/evaluate.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const BIN = join(ROOT, 'testnet', 'bin.js')

export interface PeerProcess {
  name: string
  dataDir: string
  child: ChildProcess
  stderr: string
  stdout: string
  exit: Promise<number | null>
  summaryPath: string
  weightsPath: string
}

export function tempDir (prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** `codenet job init --job-key dir/job.key <flags> > dir/job.json`: peers are admitted by tickets (startPeer makes them). */
export function writeJob (dir: string, flags: string[]): string {
  const out = execFileSync(NODE, [BIN, 'job', 'init', '--job-key', join(dir, 'job.key'), ...flags], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const path = join(dir, 'job.json')
  writeFileSync(path, out)
  return path
}

/** The ticket admitting the peer of `dataDir` (its identity created if new) to the job of `dir/job.key`. */
export async function ticketFor (dir: string, job: string, dataDir: string): Promise<string> {
  const key = jobKeyFromPem(readFileSync(join(dir, 'job.key'), 'utf8'), 'job.key')
  const peer = peerIdFromPrivateKey((await loadOrCreateIdentity(dataDir)).key).toString()
  const path = `${dataDir}.ticket`
  writeFileSync(path, JSON.stringify(signTicket(key, jobHash(parseJobSpec(readFileSync(job, 'utf8'))), peer)))
  return path
}

export async function startPeer (name: string, dir: string, job: string, extra: string[]): Promise<PeerProcess> {
  const dataDir = join(dir, name)
  const summaryPath = join(dir, `${name}.summary.json`)
  const weightsPath = join(dir, `${name}.weights.json`)
  const ticket = existsSync(join(dir, 'job.key')) ? ['--ticket', await ticketFor(dir, job, dataDir)] : []
  const child = spawn(NODE, [BIN, 'peer', '--job', job, '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns',
    '--json', summaryPath, '--export-weights', weightsPath, ...ticket, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const p: PeerProcess = {
    name, dataDir, child, stderr: '', stdout: '', summaryPath, weightsPath,
    exit: new Promise(resolve => { child.on('exit', code => { resolve(code) }) })
  }
  // Kept in the test's temp dir too, for post-mortems.
  child.stderr?.on('data', (d: Buffer) => { p.stderr += d.toString(); appendFileSync(join(dir, `${name}.log`), d) })
  child.stdout?.on('data', (d: Buffer) => { p.stdout += d.toString() })
  return p
}

/** Resolves with the first match of `re` in the peer's stderr. */
export async function waitFor (p: PeerProcess, re: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const m = re.exec(p.stderr)
    if (m !== null) return m
    if (p.child.exitCode !== null || Date.now() > end) throw new Error(`${p.name}: no ${re} in output (exit ${p.child.exitCode}):\n${p.stderr.slice(-3000)}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export function readJson (path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'))
}

/** Largest absolute difference between two weights exports. */
export { weightsDistance }

export function killAll (peers: PeerProcess[]): void {
  for (const p of peers) if (p.child.exitCode === null && p.child.pid !== undefined) p.child.kill('SIGKILL')
}

export const P = 5
export function jobFlags (steps: number): string[] {
  return ['--peers', String(P), '--dataset', 'synthetic', '--model', '32-16-4', '--steps', String(steps), '--batch', '16', '--lr', '0.2', '--checkpoint-every', '10', '--seed', '3']
}
/**
 * `codenet simulate` on the same job reaches a mean training loss of 0.80 over 60 steps (0.74
 * over 100); untrained it is ln 4 ≈ 1.39.
 */
export const LOSS_TARGET = 0.95

export class PeerNet {
  running: PeerProcess[] = []

  async start (dir: string, job: string, extra: (i: number) => string[] = () => []): Promise<{ peers: PeerProcess[], boot: string }> {
    const first = await startPeer('p0', dir, job, extra(0))
    this.running.push(first)
    const boot = (await waitFor(first, /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/))[1]
    const peers = [first]
    for (let i = 1; i < P; i++) {
      const p = await startPeer(`p${i}`, dir, job, ['--bootstrap', boot, ...extra(i)])
      this.running.push(p)
      peers.push(p)
    }
    return { peers, boot }
  }

  stop (): void { killAll(this.running); this.running = [] }
}

/** Wait for every peer to exit 0; their summaries and weights. */
export async function finish (peers: PeerProcess[]): Promise<Array<{ summary: any, weights: any }>> {
  const codes = await Promise.all(peers.map(async p => await p.exit))
  codes.forEach((c, i) => { if (c !== 0) throw new Error(`${peers[i].name} exited ${c}:\n${peers[i].stderr.slice(-3000)}`) })
  return peers.map(p => ({ summary: readJson(p.summaryPath), weights: readJson(p.weightsPath) }))
}

/** What every multi-peer run must end with: all steps, the loss target, and one model on every peer. */
export function checkCommon (results: Array<{ summary: any, weights: any }>, steps: number): void {
  for (const r of results) {
    expect(r.summary.steps).toBe(steps)
    expect(r.summary.peers).toBe(P)
    expect(r.summary.trainLoss).toBeLessThan(LOSS_TARGET)
    expect(r.summary.testAccuracy).toBeGreaterThan(0.6)
    expect(r.summary.code).toMatchObject({ scheme: 'polydot', m: 2, n: 1 })
  }
  // Every peer decoded the same model (up to float64 rounding of independent decodes).
  for (const r of results.slice(1)) expect(weightsDistance(results[0].weights, r.weights)).toBeLessThan(1e-9)
  expect(new Set(results.map(r => r.summary.self)).size).toBe(P)
}

/** The peer id of the identity in `dataDir` (created if new): what `codenet peer --print-id --data-dir` prints. */
export async function peerIdOf (dataDir: string): Promise<string> {
  return peerIdFromPrivateKey((await loadOrCreateIdentity(dataDir)).key).toString()
}

/**
 * A `codenet peer` with exactly `args` (no loopback or --no-mdns defaults, unlike startPeer),
 * run under a command `prefix` (e.g. `netns-lan exec NAME I`: inside a network namespace) and
 * with extra environment variables (e.g. DEBUG); admitted by a ticket as startPeer does.
 */
export async function startPeerWith (name: string, dir: string, job: string, args: string[], opts: { prefix?: string[], env?: Record<string, string> } = {}): Promise<PeerProcess> {
  const dataDir = join(dir, name)
  const summaryPath = join(dir, `${name}.summary.json`)
  const weightsPath = join(dir, `${name}.weights.json`)
  const ticket = existsSync(join(dir, 'job.key')) ? ['--ticket', await ticketFor(dir, job, dataDir)] : []
  const [cmd, ...pre] = [...(opts.prefix ?? []), NODE]
  const child = spawn(cmd, [...pre, BIN, 'peer', '--job', job, '--data-dir', dataDir, '--json', summaryPath, '--export-weights', weightsPath, ...ticket, ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  const p: PeerProcess = {
    name, dataDir, child, stderr: '', stdout: '', summaryPath, weightsPath,
    exit: new Promise(resolve => { child.on('exit', code => { resolve(code) }) })
  }
  child.stderr?.on('data', (d: Buffer) => { p.stderr += d.toString(); appendFileSync(join(dir, `${name}.log`), d) })
  child.stdout?.on('data', (d: Buffer) => { p.stdout += d.toString() })
  return p
}

/**
 * A peer's full status, asked as the controller (a client whose libp2p key is the control key,
 * node/control-auth.ts): peers started with `--control-key` show it only to it and to members.
 */
export async function statusAsController (controlKey: KeyObject, addr: string): Promise<PeerStatus> {
  const client = await createHost({ privateKey: controlLibp2pKey(controlKey), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  try {
    const body = await controlRequest(async (protocol, o) => await client.dialProtocol(multiaddr(addr), protocol, o), 'status', undefined, { timeoutMs: 10_000 })
    const r = parsePeerStatus(body)
    if (!r.ok) throw new Error(`${addr}: ${r.error}`)
    return r.status
  } finally {
    await client.stop()
  }
}
