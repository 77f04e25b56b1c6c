/**
 * The processes of the attack soak (testnet/scripts/attack-soak.ts): its jobs (a job key, job
 * file and tickets per job, as node/testing.ts makes them — copied here because that module
 * imports vitest), real `codenet peer` processes on 127.0.0.1 whose stderr goes to a log file in
 * their job's folder, their RSS from /proc, their full status asked as their controller, and a
 * registry of every child process so that all of them die with the script (Ctrl-C, error, exit).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, createWriteStream, mkdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KeyObject } from 'node:crypto'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { loadOrCreateIdentity } from '../../node/store.ts'
import { createHost, type CodenetHost } from '../../node/peer.ts'
import { controlLibp2pKey } from '../../node/control-auth.ts'
import { jobKeyFromPem, signTicket } from '../../protocols/admission.ts'
import { jobHash, parseJobSpec } from '../../protocols/job.ts'
import { controlRequest } from '../../protocols/control.ts'
import { parsePeerStatus, type PeerStatus } from '../../protocols/status.ts'
import { weightsMaxAbsDiff } from '../../training/evaluate.ts'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const BIN = join(ROOT, 'testnet', 'bin.js')

// ---- every child of the script, killed on any way out ----
const children = new Set<ChildProcess>()

export function track (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

/** SIGKILL every child still running (synchronous: safe in an 'exit' handler). */
export function killChildren (): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) { try { c.kill('SIGKILL') } catch {} }
}

// ---- jobs ----
export interface Job {
  dir: string
  path: string
  hash: string
}

/** `codenet job init --job-key dir/job.key <flags> > dir/job.json`: peers are admitted by tickets. */
export function writeJob (dir: string, flags: string[]): Job {
  mkdirSync(dir, { recursive: true })
  const text = execFileSync(NODE, [BIN, 'job', 'init', '--job-key', join(dir, 'job.key'), ...flags], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const path = join(dir, 'job.json')
  writeFileSync(path, text)
  return { dir, path, hash: jobHash(parseJobSpec(text)) }
}

/** The ticket admitting the peer of `dataDir` (its identity created if new) to `job`. */
async function ticketFor (job: Job, dataDir: string): Promise<string> {
  const key = jobKeyFromPem(readFileSync(join(job.dir, 'job.key'), 'utf8'), 'job.key')
  const peer = peerIdFromPrivateKey((await loadOrCreateIdentity(dataDir)).key).toString()
  const path = `${dataDir}.ticket`
  writeFileSync(path, JSON.stringify(signTicket(key, job.hash, peer)))
  return path
}

// ---- peers ----
export interface Peer {
  name: string
  job: Job
  child: ChildProcess
  pid: number
  logPath: string
  summaryPath: string
  weightsPath: string
  /** The address it listens on (…/p2p/<id>), once printed. */
  address: Promise<string>
  exit: Promise<number | null>
  exitCode: number | null
  /** Lines of its stderr that look like a failure (a stall, an error, a stack frame), first 20. */
  errorLines: string[]
  /** Latest "step N/T" progress line seen. */
  progress: number
}

const LISTENING = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/
const PROGRESS = /step (\d+)\/\d+ loss/
const FAILURE = /^codenet |stall|Error|Exception|^\s+at /

export async function startPeer (name: string, job: Job, extra: string[]): Promise<Peer> {
  const dataDir = join(job.dir, name)
  const summaryPath = join(job.dir, `${name}.summary.json`)
  const weightsPath = join(job.dir, `${name}.weights.json`)
  const logPath = join(job.dir, `${name}.log`)
  const ticket = await ticketFor(job, dataDir)
  const child = track(spawn(NODE, [BIN, 'peer', '--job', job.path, '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns',
    '--ticket', ticket, '--json', summaryPath, '--export-weights', weightsPath, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  if (child.pid === undefined) throw new Error(`${job.dir}/${name}: could not start codenet peer`)
  const log = createWriteStream(logPath)
  let resolveAddress: (a: string) => void = () => {}
  let rejectAddress: (e: Error) => void = () => {}
  const address = new Promise<string>((resolve, reject) => { resolveAddress = resolve; rejectAddress = reject })
  address.catch(() => {})
  let pending = ''
  const p: Peer = {
    name, job, child, pid: child.pid, logPath, summaryPath, weightsPath, address, exitCode: null, errorLines: [], progress: 0,
    exit: new Promise(resolve => {
      child.once('exit', (code, signal) => {
        p.exitCode = code ?? (signal !== null ? 128 : null)
        if (pending !== '') log.write(`${stamp()}${pending}\n`)
        log.end(`${stamp()}exit ${code ?? signal}\n`)
        rejectAddress(new Error(`${name} exited (${code ?? signal}) before listening; see ${logPath}`))
        resolve(p.exitCode)
      })
    })
  }
  // Each line stamped with the seconds since the peer started: the post-mortem needs the timeline.
  const started = Date.now()
  const stamp = (): string => `[+${((Date.now() - started) / 1000).toFixed(1)}s] `
  child.stderr?.on('data', (d: Buffer) => {
    pending += d.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const l of lines) {
      log.write(`${stamp()}${l}\n`)
      const m = LISTENING.exec(l)
      if (m !== null) resolveAddress(m[1])
      const s = PROGRESS.exec(l)
      if (s !== null) p.progress = Number(s[1])
      else if (FAILURE.test(l) && p.errorLines.length < 20) p.errorLines.push(l)
    }
  })
  child.stdout?.on('data', (d: Buffer) => { log.write(`${stamp()}stdout: ${d.toString()}`) })
  return p
}

/** Resident set size of a live process, MB (VmRSS), and its peak so far (VmHWM); null once it is gone. */
export function rssOf (pid: number): { rss: number, hwm: number } | null {
  let text: string
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return null }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  const rss = kb('VmRSS')
  return Number.isFinite(rss) ? { rss: rss / 1024, hwm: kb('VmHWM') / 1024 } : null
}

/** A libp2p client whose identity is the control key: peers started with its public half show it their full status. */
export class StatusClient {
  private readonly host: CodenetHost
  private constructor (host: CodenetHost) { this.host = host }

  static async start (controlKey: KeyObject): Promise<StatusClient> {
    return new StatusClient(await createHost({ privateKey: controlLibp2pKey(controlKey), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }))
  }

  /** The peer's full status, or null when it does not answer within `timeoutMs`. */
  async status (addr: string, timeoutMs = 5000): Promise<PeerStatus | null> {
    try {
      const body = await controlRequest(async (protocol, o) => await this.host.dialProtocol(multiaddr(addr), protocol, o), 'status', undefined, { timeoutMs })
      const r = parsePeerStatus(body)
      return r.ok ? r.status : null
    } catch {
      return null
    }
  }

  async stop (): Promise<void> { try { await this.host.stop() } catch {} }
}

/** Largest absolute difference between two weights exports (training/evaluate.ts). */
export const weightsDistance = (a: any, b: any): number => weightsMaxAbsDiff(a, b)

/**
 * The model `codenet simulate` trains on the job's flags (P peers in one process, every result
 * delivered: the deterministic reference of the seed), or null when it fails.
 */
export function simulateWeights (dir: string, flags: string[]): any {
  const path = join(dir, 'simulate.weights.json')
  try {
    execFileSync(NODE, [BIN, 'simulate', ...flags, '--quiet', '--export-weights', path, '--json', join(dir, 'simulate.summary.json')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  } catch { return null }
  return readJsonOrNull(path)
}

export function readJsonOrNull (path: string): any {
  try { return JSON.parse(readFileSync(path, 'utf8')) } catch { return null }
}
