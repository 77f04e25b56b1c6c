/**
 * One process of `codenet bench exchange` (testnet/bench/exchange.ts forks P of them).
 *
 * It carries the exchanges side by side:
 *  - libp2p, one per transport asked for (`tcp`: TCP + noise + yamux; `quic`: QUIC with its own
 *    TLS 1.3 and streams): a host built exactly as a codenet peer builds it (`createHost`,
 *    node/peer.ts, listening on that transport only) and the project's `ResultExchange`
 *    (protocols/results.ts) on it — `publish` (frame encoding, the per-remote RemoteWriter,
 *    yamux streams) and `collect` (FrameReader, checks, Inbox reassembly, the collect rule);
 *  - raw: one `node:net` socket per remote (noDelay, as @libp2p/tcp sets it) carrying the same
 *    length-prefixed frames (`encodeFrames` + `lengthPrefixed`), read back by the same
 *    `FrameReader` into the same `Inbox`. No encryption, no multiplexing, no stream API.
 * So the difference between the two is the libp2p stack plus the exchange's own bookkeeping.
 *
 * The parent names a batch of rounds (transport, message size, first step, count); the worker
 * runs them back to back — publish one message to every other process, wait until the P − 1
 * others' messages of that round are in — and reports when each round completed, on its own
 * clock, and how many messages it received and verified.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type CodenetHost } from '../../node/peer.ts'
import { ResultExchange } from '../../protocols/results.ts'
import { encodeFrames, FrameReader, lengthPrefixed } from '../../protocols/frame.ts'
import { tuneV8 } from '../../node/v8-tuning.ts'
import { Inbox } from '../../protocols/results-inbox.ts'
import { matrix, type Matrix } from '../../codes/matrix.ts'
import type { RoundKey } from '../../training/exchange.ts'
import { payloadShape } from './exchange.ts'

export type BenchTransport = 'libp2p' | 'raw'
/** The libp2p transports the benchmark can build a host on (node/peer.ts). */
export const HOST_TRANSPORTS = ['tcp', 'quic'] as const
export type HostTransport = typeof HOST_TRANSPORTS[number]
/** What one batch runs on: a libp2p host of that transport, or the raw sockets. */
export type BenchSide = HostTransport | 'raw'

/** A worker's libp2p host on one transport. */
export interface HostContact {
  peerId: string
  /** libp2p multiaddr ending in /p2p/<id>. */
  addr: string
}

export interface WorkerContact {
  /** One host per transport the run measures. */
  hosts: Partial<Record<HostTransport, HostContact>>
  rawPort: number
}

/** Where a host of the transport listens: loopback, an OS-assigned port. */
const LISTEN: Record<HostTransport, string> = { tcp: '/ip4/127.0.0.1/tcp/0', quic: '/ip4/127.0.0.1/udp/0/quic-v1' }

export type ToWorker =
  | { type: 'setup', self: number, members: WorkerContact[] }
  | { type: 'connect' }
  | { type: 'batch', side: BenchSide, bytes: number, firstStep: number, rounds: number }
  /** Start a V8 CPU profile (written to `file` at 'stop'): the timed rounds only, not start-up. */
  | { type: 'profile-start', file: string }
  | { type: 'stop' }

export type FromWorker =
  | ({ type: 'hello' } & WorkerContact)
  | { type: 'ready' }
  | { type: 'connected' }
  | { type: 'profiling' }
  /** endsMs[r]: ms from the batch's start (this worker's clock) to round r complete here. */
  | { type: 'batch-done', endsMs: number[], received: number, verified: number }
  | { type: 'error', message: string }

/** The benchmark's job: a fixed id and protocol (no job spec is involved). */
export const BENCH_JOB_ID = Uint8Array.from([0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d, 0x65, 0x78])
export const BENCH_PROTOCOL = '/codenet/bench/exchange/results/1.0.0'
/** One round waits this long at most before the benchmark fails (a loaded machine is slow, not stuck). */
const ROUND_TIMEOUT_MS = 120_000
const MAX_INBOX_BYTES = 64 * 1024 * 1024

/** Element i of `sender`'s payload; element 0 is overwritten with the round's step. */
const valueAt = (sender: number, i: number): number => ((sender * 7919 + i * 31) % 1009) / 1009

function roundKey (step: number): RoundKey {
  return { step, layer: 0, phase: 'forward', attempt: 0 }
}

/** The raw side: the same frames and reassembly as the ResultExchange, on bare TCP sockets. */
class RawExchange {
  private self = 0
  private peers = 1
  private inbox = new Inbox(1, MAX_INBOX_BYTES)
  private readonly out: Socket[] = []
  private readonly inbound = new Set<Socket>()
  private readonly server: Server
  private writeError: Error | null = null

  constructor () {
    this.server = createServer({ noDelay: true }, socket => { this.handle(socket) })
  }

  async listen (): Promise<number> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    const addr = this.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('raw server has no TCP address')
    return addr.port
  }

  /** Once this worker's index is known (before any member connects). */
  join (self: number, peers: number): void {
    this.self = self
    this.peers = peers
    this.inbox = new Inbox(peers, MAX_INBOX_BYTES)
  }

  private handle (socket: Socket): void {
    socket.setNoDelay(true)
    this.inbound.add(socket)
    const reader = new FrameReader({ expectJob: BENCH_JOB_ID })
    socket.on('data', (chunk: Buffer) => {
      for (const item of reader.push(chunk)) {
        if (!item.ok) continue
        const got = this.inbox.add(item.frame.sender, item.frame)
        if (got === null || 'drop' in got) continue
        got.round.results.set(item.frame.sender, got.result)
        got.round.notify?.()
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => { this.inbound.delete(socket) })
  }

  async connect (ports: readonly number[]): Promise<void> {
    await Promise.all(ports.map(async (port, i) => {
      if (i === this.self) return
      const s = connect({ port, host: '127.0.0.1', noDelay: true })
      s.on('error', (err) => { this.writeError ??= err })
      await once(s, 'connect')
      this.out[i] = s
    }))
  }

  publish (key: RoundKey, payload: Matrix): void {
    if (this.writeError !== null) throw this.writeError
    this.inbox.round(key).results.set(this.self, { rows: payload.rows, cols: payload.cols, data: payload.data.slice() })
    const frames = encodeFrames({ jobId: BENCH_JOB_ID, step: key.step, layer: key.layer, phase: key.phase, attempt: key.attempt, sender: this.self, rows: payload.rows, cols: payload.cols }, payload.data)
      .map(lengthPrefixed)
    for (let i = 0; i < this.peers; i++) {
      if (i === this.self) continue
      const s = this.out[i]
      // One writer per remote honouring back-pressure, like RemoteWriter's send()/onDrain().
      void (async () => {
        for (const f of frames) if (!s.write(f)) await once(s, 'drain')
      })().catch((err: Error) => { this.writeError ??= err })
    }
  }

  async collect (key: RoundKey, timeoutMs: number): Promise<Map<number, Matrix>> {
    const r = this.inbox.round(key)
    if (r.results.size < this.peers) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { r.notify = null; reject(new Error(`raw round ${key.step}: ${r.results.size}/${this.peers} messages after ${timeoutMs} ms`)) }, timeoutMs)
        r.notify = () => {
          if (r.results.size >= this.peers) { clearTimeout(timer); r.notify = null; resolve() }
        }
      })
    }
    return r.results
  }

  prune (step: number): void { this.inbox.prune(step, this.self) }

  close (): void {
    for (const s of [...this.out, ...this.inbound]) s?.destroy()
    this.server.close()
  }
}

class BenchWorker {
  private readonly transports: HostTransport[]
  private readonly hosts = new Map<HostTransport, CodenetHost>()
  private readonly exchanges = new Map<HostTransport, ResultExchange>()
  private raw: RawExchange | null = null
  private members: WorkerContact[] = []
  private self = -1
  private readonly payloads = new Map<number, Matrix>()

  constructor (transports: HostTransport[]) {
    this.transports = transports
  }

  async hello (): Promise<FromWorker> {
    const hosts: WorkerContact['hosts'] = {}
    for (const t of this.transports) {
      const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: [LISTEN[t]], mdns: false })
      this.hosts.set(t, host)
      hosts[t] = { peerId: host.peerId.toString(), addr: host.getMultiaddrs()[0].toString() }
    }
    this.raw = new RawExchange()
    const rawPort = await this.raw.listen()
    return { type: 'hello', hosts, rawPort }
  }

  async setup (self: number, members: WorkerContact[]): Promise<FromWorker> {
    this.self = self
    this.members = members
    this.need(this.raw).join(self, members.length)
    for (const [t, host] of this.hosts) {
      const exchange = new ResultExchange(host, {
        protocol: BENCH_PROTOCOL,
        jobId: BENCH_JOB_ID,
        self,
        members: members.map(m => peerIdFromString(this.contact(m, t).peerId)),
        // Every member is up for the whole run: never presume one down between batches.
        presumeDownAfterMs: 3_600_000
      })
      await exchange.start()
      this.exchanges.set(t, exchange)
    }
    return { type: 'ready' }
  }

  private contact (m: WorkerContact, t: HostTransport): HostContact {
    const c = m.hosts[t]
    if (c === undefined) throw new Error(`a member has no ${t} host`)
    return c
  }

  /** One libp2p connection per pair and transport (the lower index dials) and one raw socket per direction. */
  async connect (): Promise<FromWorker> {
    await Promise.all([...this.hosts].map(async ([t, host]) => {
      await Promise.all(this.members.map(async (m, j) => {
        if (j > this.self) await host.dial(multiaddr(this.contact(m, t).addr), { signal: AbortSignal.timeout(30_000) })
      }))
    }))
    await this.need(this.raw).connect(this.members.map(m => m.rawPort))
    return { type: 'connected' }
  }

  private payload (bytes: number): Matrix {
    let p = this.payloads.get(bytes)
    if (p === undefined) {
      const { rows, cols } = payloadShape(bytes)
      p = matrix(rows, cols, Float64Array.from({ length: rows * cols }, (_, i) => valueAt(this.self, i)))
      this.payloads.set(bytes, p)
    }
    return p
  }

  async batch (side: BenchSide, bytes: number, firstStep: number, rounds: number): Promise<FromWorker> {
    const ex = side === 'raw' ? null : this.need(this.exchanges.get(side) ?? null); const raw = this.need(this.raw)
    const P = this.members.length
    const payload = this.payload(bytes)
    const n = payload.data.length
    const endsMs: number[] = []
    let received = 0; let verified = 0
    const t0 = performance.now()
    for (let r = 0; r < rounds; r++) {
      const step = firstStep + r
      const key = roundKey(step)
      payload.data[0] = step
      let results: Map<number, Matrix>
      if (ex !== null) {
        await ex.publish(key, payload)
        const c = await ex.collect(key, { threshold: P, want: P, timeoutMs: ROUND_TIMEOUT_MS })
        if (c.results.size < P) {
          const missing = [...Array(P).keys()].filter(i => !c.results.has(i))
          const st = ex.stats()
          throw new Error(`libp2p ${side} round ${step}: ${c.results.size}/${P} messages after ${ROUND_TIMEOUT_MS} ms (none from ${missing.join(', ')}; frames dropped here ${JSON.stringify(st.dropReasons)}, send failures here ${st.peers.reduce((a, p) => a + p.sendFailures, 0)})`)
        }
        results = c.results
      } else {
        raw.publish(key, payload)
        results = await raw.collect(key, ROUND_TIMEOUT_MS)
      }
      endsMs.push(performance.now() - t0)
      // Checked outside the timed span: every message is the sender's, of this round, whole.
      for (const [i, m] of results) {
        if (i === this.self) continue
        received++
        if (m.data.length === n && m.data[0] === step && (n === 1 || m.data[n - 1] === valueAt(i, n - 1))) verified++
      }
      if (ex !== null) ex.prune(step)
      else raw.prune(step)
    }
    return { type: 'batch-done', endsMs, received, verified }
  }

  private profiler: { session: Session, file: string } | null = null

  async profileStart (file: string): Promise<FromWorker> {
    const session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
    this.profiler = { session, file }
    return { type: 'profiling' }
  }

  async stop (): Promise<void> {
    if (this.profiler !== null) {
      const { profile } = await this.profiler.session.post('Profiler.stop')
      writeFileSync(this.profiler.file, JSON.stringify(profile))
      this.profiler.session.disconnect()
    }
    for (const ex of this.exchanges.values()) await ex.stop().catch(() => {})
    this.raw?.close()
    for (const host of this.hosts.values()) { try { await host.stop() } catch {} }
  }

  private need<T> (x: T | null): T {
    if (x === null) throw new Error('bench worker used before it was set up')
    return x
  }
}

function send (msg: FromWorker): void { process.send?.(msg) }

if (process.send !== undefined) {
  tuneV8() // as in a codenet peer process (testnet/bin.js)
  // The parent names the transports as the one argument: 'tcp', 'quic' or 'tcp,quic'.
  const transports = (process.argv[2] ?? 'tcp').split(',').filter((t): t is HostTransport => (HOST_TRANSPORTS as readonly string[]).includes(t))
  const worker = new BenchWorker(transports)
  // Messages are handled one at a time, in order.
  let chain: Promise<void> = worker.hello().then(send, (err: Error) => { send({ type: 'error', message: `start: ${err.message}` }) })
  process.on('message', (msg: ToWorker) => {
    chain = chain.then(async () => {
      try {
        switch (msg.type) {
          case 'setup': send(await worker.setup(msg.self, msg.members)); break
          case 'connect': send(await worker.connect()); break
          case 'batch': send(await worker.batch(msg.side, msg.bytes, msg.firstStep, msg.rounds)); break
          case 'profile-start': send(await worker.profileStart(msg.file)); break
          case 'stop':
            await worker.stop()
            process.exit(0)
        }
      } catch (err) {
        send({ type: 'error', message: `${msg.type}: ${(err as Error).message}` })
      }
    })
  })
  process.on('disconnect', () => { process.exit(0) })
}
