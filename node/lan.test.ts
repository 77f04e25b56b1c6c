/**
 * A LAN on one machine: network namespaces on one bridge (the repository's `netns-lan` tool,
 * beside the project: root only), each with its own address 10.231.0.(10+i)/24 and multicast.
 * Everything runs inside the namespaces this file creates, and they are torn down at the end.
 *
 *   a  three ticketed peers, listening on all interfaces, mDNS on and no --bootstrap (no one
 *      on this LAN has an address to start from: every contact begins with mDNS): they find
 *      each other and train to the end with the same model
 *   b  meanwhile an outsider in a fourth namespace (node/testing/outsider.ts), its id ground to
 *      sort before every member's, finds them by mDNS too and publishes hellos claiming all of
 *      them, with no ticket, a forged one, a member's stolen one and one of its own key: it is
 *      not seated. Pre-admission it was (an open job seats the P smallest ids: the peer with
 *      the largest id would have stayed at "joined 4/3 peers" and never finished)
 *   c  a peer with --swarm-key: a host without the key cannot complete a connection to it,
 *      one with the key can (and gets the answer a stranger gets: phase and step)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKey } from '@libp2p/pnet'
import { tempDir, writeJob, startPeerWith, waitFor, finish, weightsDistance, peerIdOf, killAll, type PeerProcess } from './testing.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const OUTSIDER = join(ROOT, 'node', 'testing', 'outsider.ts')
const TOOL = join(ROOT, '..', 'shared', 'tools', 'netns-lan')

function hasIp (): boolean {
  try { execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' }); return true } catch { return false }
}
const skipReason = process.getuid?.() !== 0
  ? 'not root (network namespaces need root)'
  : !hasIp() ? 'no usable `ip` (iproute2) here' : !existsSync(TOOL) ? `the netns-lan tool is not at ${TOOL}` : null
const canNetns = skipReason === null
if (!canNetns) console.log(`node/lan.test.ts skipped: ${skipReason}`)

/** Short: interface names (NAMEbr, NAMEv3, …) must fit in 15 characters. */
const NAME = `cl${process.pid % 10000}`
const inNs = (i: number): string[] => [TOOL, 'exec', NAME, String(i)]
const ADDR = (i: number): string => `10.231.0.${10 + i}`

const peers: PeerProcess[] = []
const scripts: ChildProcess[] = []

interface Script { child: ChildProcess, events: Array<Record<string, any>>, exit: Promise<number | null> }

/** The outsider script inside namespace `i`; its JSON lines collected as events. */
function runOutsider (i: number, args: string[]): Script {
  const child = spawn(inNs(i)[0], [...inNs(i).slice(1), NODE, OUTSIDER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  scripts.push(child)
  const s: Script = { child, events: [], exit: new Promise(resolve => { child.on('exit', code => { resolve(code) }) }) }
  let buf = ''
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    const lines = buf.split('\n')
    buf = lines.pop() ?? ''
    for (const l of lines) if (l.trim() !== '') s.events.push(JSON.parse(l))
  })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  child.on('exit', code => { if (code !== 0 && code !== null) console.log(`outsider in ns ${i} exited ${code}: ${err.slice(-2000)}`) })
  return s
}

async function event (s: Script, name: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  for (const end = Date.now() + timeoutMs; Date.now() < end;) {
    const e = s.events.find(x => x.event === name)
    if (e !== undefined) return e
    if (s.child.exitCode !== null) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`the outsider script sent no '${name}' (exit ${s.child.exitCode})`)
}

/** Kills whatever still runs in the namespaces, deletes them and the bridge (idempotent). */
function teardown (): void {
  killAll(peers)
  for (const c of scripts) if (c.exitCode === null) c.kill('SIGKILL')
  execFileSync(TOOL, ['down', NAME], { stdio: 'ignore' })
}

describe('a LAN of network namespaces', () => {
  beforeAll(() => {
    if (!canNetns) return
    execFileSync(TOOL, ['down', NAME], { stdio: 'ignore' })
    // Also when this process exits without running afterAll (an interrupted run).
    process.once('exit', teardown)
    execFileSync(TOOL, ['up', '4', NAME], { stdio: 'inherit' })
  })
  afterAll(() => {
    if (!canNetns) return
    teardown()
    process.off('exit', teardown)
  })

  it.skipIf(!canNetns)('three peers find each other by mDNS alone and train; an outsider on the LAN is not seated', async () => {
    const STEPS = 40
    const dir = tempDir('codenet-lan-')
    const job = writeJob(dir, ['--peers', '3', '--dataset', 'synthetic', '--model', '32-16-4', '--steps', String(STEPS), '--batch', '16', '--lr', '0.2', '--checkpoint-every', '10', '--seed', '3'])
    const honest = await Promise.all([0, 1, 2].map(async i => await peerIdOf(join(dir, `p${i}`))))
    const sorted = [...honest].sort()
    // The outsider first, so it is on the LAN before anyone joins.
    const outsider = runOutsider(3, ['hello', '--job', job, '--seconds', '600', '--below', honest.join(','), '--mdns'])
    const outsiderId = String((await event(outsider, 'started')).id)
    expect(outsiderId < sorted[0]).toBe(true)
    for (let i = 0; i < 3; i++) {
      // Each logs the hellos it drops (DEBUG, at most once a second): evidence the outsider reached it.
      peers.push(await startPeerWith(`p${i}`, dir, job, ['--listen', '/ip4/0.0.0.0/tcp/0', '--open'], { prefix: inNs(i), env: { DEBUG: 'codenet:engine' } }))
    }
    // Each advertises its LAN address first.
    for (const [i, p] of peers.entries()) {
      expect((await waitFor(p, /listening on (\S+)/))[1]).toMatch(new RegExp(`^/ip4/${ADDR(i).replace(/\./g, '\\.')}/tcp/\\d+/p2p/${honest[i]}$`))
    }
    for (const [i, p] of peers.entries()) {
      const m = await waitFor(p, /barrier closed: (\d+) peers, this peer is index (\d+)/, 120_000)
      expect(Number(m[1])).toBe(3)
      expect(Number(m[2])).toBe(sorted.indexOf(honest[i]))
    }
    const results = await finish(peers)
    for (const r of results) {
      expect(r.summary.steps).toBe(STEPS)
      expect(r.summary.peers).toBe(3)
      expect(r.summary.code).toMatchObject({ scheme: 'polydot', m: 1, n: 1 })
      // Untrained, the loss is ln 4 and the accuracy 1/4.
      expect(r.summary.trainLoss).toBeLessThan(Math.log(4))
      expect(r.summary.testAccuracy).toBeGreaterThan(0.5)
    }
    for (const r of results.slice(1)) expect(weightsDistance(results[0].weights, r.weights)).toBeLessThan(1e-9)
    expect(results.map(r => r.summary.peerId).sort()).toEqual(sorted)

    // The outsider was on the LAN with them: it heard their hellos and they dropped its own as not admitted.
    outsider.child.kill('SIGTERM')
    await outsider.exit
    const last = outsider.events.filter(e => e.event === 'progress' || e.event === 'done').at(-1) ?? {}
    console.log(`outsider ${outsiderId}: ${JSON.stringify({ sent: last.sent, heard: last.heard?.length })}`)
    expect(last.heard?.length ?? 0).toBeGreaterThanOrEqual(1)
    for (const kind of ['none', 'forged', 'stolen', 'foreign']) expect(last.sent?.[kind] ?? 0).toBeGreaterThan(0)
    for (const h of last.heard ?? []) expect(honest).toContain(h)
    for (const p of peers) expect(p.stderr).toContain(`dropped a hello from ${outsiderId} (not-admitted)`)
  }, 240_000)

  it.skipIf(!canNetns)('a host without the swarm key cannot connect to a peer that has one; a host with it can', async () => {
    const dir = tempDir('codenet-lan-pnet-')
    const job = writeJob(dir, ['--peers', '3', '--dataset', 'synthetic', '--model', '32-16-4', '--steps', '10', '--batch', '16', '--seed', '4'])
    const key = new Uint8Array(95)
    generateKey(key)
    const keyFile = join(dir, 'swarm.key')
    writeFileSync(keyFile, key)
    // A peer of a job that waits for two more: it just listens, inside the private network.
    const p = await startPeerWith('pk', dir, job, ['--listen', '/ip4/0.0.0.0/tcp/0', '--no-mdns', '--swarm-key', keyFile], { prefix: inNs(0) })
    peers.push(p)
    const addr = (await waitFor(p, new RegExp(`listening on (/ip4/${ADDR(0).replace(/\./g, '\\.')}/tcp/\\d+/p2p/\\S+)`)))[1]
    const without = runOutsider(1, ['dial', '--address', addr])
    const withKey = runOutsider(2, ['dial', '--address', addr, '--swarm-key', keyFile])
    const a = await event(without, 'dial')
    const b = await event(withKey, 'dial')
    console.log(`without the key: ${JSON.stringify(a)}; with it: ${JSON.stringify(b)}`)
    expect(a.connected).toBe(false)
    expect(a.status).toBeNull()
    expect(b.connected).toBe(true)
    expect(b.status).toMatchObject({ phase: 'joining' })
    p.child.kill('SIGTERM')
    await p.exit
  }, 120_000)
})
