/**
 * The outsiders of the attack soak (testnet/scripts/attack-soak.ts), in their own process so
 * their CPU and memory are not counted in any peer's and the soak script stays responsive.
 * None of them holds a ticket for the job; all know its hash (the job file is not secret).
 *
 *   frame flood   one libp2p host (node/peer.ts createHost, a fresh key) that, to every member,
 *                 keeps `--streams` result streams (jobNames(hash).protocols.results) going: it
 *                 opens one, writes garbage and well-formed-looking frames (protocols/frame.ts
 *                 encodeFrames + lengthPrefixed: this job's id, real-looking steps, layers,
 *                 phases and sender indices, 64×64 payloads; oversized length prefixes; random
 *                 bytes) until the member resets it, and opens the next. Paced by a token bucket
 *                 per member (`--mbps` MB/s and at most `--opens` stream opens a second), so
 *                 the flood is heavy but does not just eat the machine's CPU.
 *   hello sybils  `--sybils` hosts with ids ground to sort before every member's
 *                 (node/testing/outsider.ts), each publishing a well-formed hello on the join
 *                 topic every `--period-ms` ms — its ticket rotating between none, forged, stolen
 *                 from a member and signed by a job key of its own — claiming to have seen every
 *                 member and sybil, and dialling every member.
 *
 *   node testnet/scripts/attack-soak-attackers.ts --job FILE --targets MA,… [--sybils 6]
 *        [--period-ms 100] [--mbps 2] [--opens 50] [--streams 2] [--report-s 10]
 *
 * `--targets` are the members' full listen addresses (…/p2p/<id>). JSON lines on stdout: a
 * `started` event, a `progress` event every `--report-s` seconds and a `done` event on SIGTERM
 * (counters are cumulative).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { createHost, type CodenetHost } from '../../node/peer.ts'
import { Outsider, groundKey } from '../../node/testing/outsider.ts'
import { jobHash, jobNames, parseJobSpec } from '../../protocols/job.ts'
import { encodeFrames, lengthPrefixed } from '../../protocols/frame.ts'

const { values } = parseArgs({
  options: {
    job: { type: 'string' },
    targets: { type: 'string' },
    sybils: { type: 'string', default: '6' },
    'period-ms': { type: 'string', default: '100' },
    mbps: { type: 'string', default: '2' },
    opens: { type: 'string', default: '50' },
    streams: { type: 'string', default: '2' },
    'report-s': { type: 'string', default: '10' }
  },
  strict: true
})

function positive (name: string, v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) { process.stderr.write(`attack-soak-attackers: --${name} must be a number ≥ 0, got '${v}'\n`); process.exit(2) }
  return n
}
if (values.job === undefined || values.targets === undefined) {
  process.stderr.write('usage: attack-soak-attackers.ts --job FILE --targets MA,… [--sybils N] [--period-ms T] [--mbps R] [--opens N] [--streams N]\n')
  process.exit(2)
}

const spec = parseJobSpec(readFileSync(values.job, 'utf8'))
const hash = jobHash(spec)
const names = jobNames(hash)
const P = spec.config.peers
const totalSteps = spec.config.steps ?? 1000
const targets: Multiaddr[] = values.targets.split(',').filter(s => s !== '').map(s => multiaddr(s))
const memberIds = targets.map(t => t.getComponents().find(c => c.name === 'p2p')?.value ?? '')
const sybilCount = positive('sybils', values.sybils)
const periodMs = positive('period-ms', values['period-ms'])
const bytesPerSecond = positive('mbps', values.mbps) * 1e6
const opensPerSecond = positive('opens', values.opens)
const streamsPerTarget = positive('streams', values.streams)
const reportMs = 1000 * positive('report-s', values['report-s'])

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
let running = true
const t0 = Date.now()
const out = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ t: Math.round((Date.now() - t0) / 1000), ...o })}\n`) }

/** A token bucket: take(n) waits until n tokens have accrued at `rate` a second (burst ≤ 1 s worth). */
class Bucket {
  private tokens = 0
  private last = Date.now()
  private readonly rate: number
  constructor (rate: number) { this.rate = rate }
  async take (n: number): Promise<void> {
    for (;;) {
      const now = Date.now()
      this.tokens = Math.min(this.rate, this.tokens + (now - this.last) / 1000 * this.rate)
      this.last = now
      if (this.tokens >= n || (n > this.rate && this.tokens >= this.rate)) { this.tokens -= n; return }
      await sleep(Math.max(5, Math.ceil((Math.min(n, this.rate) - this.tokens) / this.rate * 1000)))
      if (!running) return
    }
  }
}

interface FloodCounters {
  /** Streams the member accepted at negotiation (then reset, if it refuses non-members). */
  opened: number
  /** dialProtocol failed: the protocol not handled yet (before the barrier), stream limit, no connection. */
  openFailed: number
  /** Streams that ended because the member reset or closed them while we wrote. */
  resetByMember: number
  /** Bytes handed to send() on an open stream, by kind. */
  bytes: { frames: number, garbage: number, oversized: number }
  messages: number
}
const flood: FloodCounters[] = targets.map(() => ({ opened: 0, openFailed: 0, resetByMember: 0, bytes: { frames: 0, garbage: 0, oversized: 0 }, messages: 0 }))
const openErrors: Record<string, number> = {}

/** The next flood message: a well-formed-looking frame set of this job, random bytes, or a length prefix past the cap. */
function floodMessage (n: number): { kind: 'frames' | 'garbage' | 'oversized', bytes: Uint8Array } {
  const k = n % 4
  if (k === 0 || k === 1) {
    const rows = 64; const cols = 64
    const data = new Float64Array(rows * cols)
    for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1
    const step = Math.floor(Math.random() * totalSteps)
    const frames = encodeFrames({ jobId: names.jobId, step, layer: n % 3, attempt: 0, sender: Math.floor(Math.random() * P), phase: k === 0 ? 'forward' : 'backward', rows, cols }, data)
    const parts = frames.map(f => lengthPrefixed(f))
    const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
    let o = 0
    for (const p of parts) { bytes.set(p, o); o += p.length }
    return { kind: 'frames', bytes }
  }
  if (k === 2) return { kind: 'garbage', bytes: randomBytes(1024 + Math.floor(Math.random() * 63 * 1024)) }
  // A length prefix claiming 4 GiB, then 32 KiB of what would be its body.
  const bytes = randomBytes(4 + 32 * 1024)
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, 0xffffffff)
  return { kind: 'oversized', bytes }
}

async function floodWorker (host: CodenetHost, i: number, bytes: Bucket, opens: Bucket): Promise<void> {
  const c = flood[i]
  let n = i
  while (running) {
    await opens.take(1)
    if (!running) return
    let stream: Stream
    try {
      // Not waiting for the member to confirm the protocol: the first message travels with the
      // stream's opening, so it reaches the member even when it resets the stream at once.
      stream = await host.dialProtocol(targets[i], names.protocols.results, { signal: AbortSignal.timeout(5000), negotiateFully: false })
      c.opened++
    } catch (err) {
      c.openFailed++
      const key = ((err as Error).name ?? 'Error')
      openErrors[key] = (openErrors[key] ?? 0) + 1
      await sleep(250)
      continue
    }
    try {
      while (running && stream.status === 'open') {
        const m = floodMessage(n++)
        await bytes.take(m.bytes.length)
        if (stream.status !== 'open') break
        if (!stream.send(m.bytes)) await stream.onDrain({ signal: AbortSignal.timeout(2000) })
        c.bytes[m.kind] += m.bytes.length
        c.messages++
      }
      if (running) c.resetByMember++
    } catch {
      c.resetByMember++
    } finally {
      try { stream.abort(new Error('flood: next stream')) } catch {}
    }
  }
}

async function main (): Promise<void> {
  // The flooder: a fresh key, no ticket.
  const flooder = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  // The sybils: ids ground to sort before every member's (the barrier seats the P smallest admitted ids).
  const sybils: Outsider[] = []
  for (let k = 0; k < sybilCount; k++) sybils.push(await Outsider.start({ key: (await groundKey(memberIds)).key }))
  const sybilIds = sybils.map(o => o.id)
  out({ event: 'started', flooder: flooder.peerId.toString(), sybils: sybilIds, targets: targets.length })
  for (const o of sybils) o.attack({ job: hash, peers: P, periodMs, claimSeen: [...memberIds, ...sybilIds] })

  // Every sybil dials every member, spread out (a member takes a few new connections a second
  // from one address, and on loopback every host, member or not, is 127.0.0.1).
  void (async () => {
    for (const t of targets) {
      for (const o of sybils) {
        if (!running) return
        await o.host.dial(t, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
        await sleep(300)
      }
    }
  })()

  const workers: Array<Promise<void>> = []
  // --mbps 0 or --opens 0: sybils only.
  if (bytesPerSecond > 0 && opensPerSecond > 0) targets.forEach((_, i) => {
    const bytes = new Bucket(bytesPerSecond)
    const opens = new Bucket(opensPerSecond)
    for (let s = 0; s < streamsPerTarget; s++) workers.push(floodWorker(flooder, i, bytes, opens))
  })

  const report = (event: string): void => {
    const sum = (f: (c: FloodCounters) => number): number => flood.reduce((a, c) => a + f(c), 0)
    out({
      event,
      flood: {
        opened: sum(c => c.opened),
        openFailed: sum(c => c.openFailed),
        resetByMember: sum(c => c.resetByMember),
        messages: sum(c => c.messages),
        bytes: sum(c => c.bytes.frames + c.bytes.garbage + c.bytes.oversized),
        byKind: { frames: sum(c => c.bytes.frames), garbage: sum(c => c.bytes.garbage), oversized: sum(c => c.bytes.oversized) },
        openErrors,
        perTarget: flood.map(c => ({ opened: c.opened, openFailed: c.openFailed, bytes: c.bytes.frames + c.bytes.garbage + c.bytes.oversized }))
      },
      hellos: sybils.reduce((a, o) => a + o.totalSent, 0),
      sybilsHeard: Math.max(0, ...sybils.map(o => o.heard.size)),
      sybilConnections: sybils.reduce((a, o) => a + o.host.getConnections().length, 0),
      floodConnections: flooder.getConnections().length
    })
  }
  const timer = setInterval(() => { report('progress') }, reportMs)
  const stop = async (): Promise<void> => {
    if (!running) return
    running = false
    clearInterval(timer)
    report('done')
    await Promise.race([Promise.allSettled([...sybils.map(async o => { await o.stop() }), flooder.stop(), ...workers]), sleep(5000)])
    process.exit(0)
  }
  process.once('SIGTERM', () => { void stop() })
  process.once('SIGINT', () => { void stop() })
  // The soak script's end of the pipe closing means it is gone: stop too.
  process.stdout.on('error', () => { void stop() })
}

main().catch((err: Error) => { process.stderr.write(`attack-soak-attackers: ${err.message}\n`); process.exit(1) })
