/**
 * The libp2p `Exchange`: every round's results travel as length-prefixed frames on one
 * long-lived outbound stream per remote peer.
 *
 * Sending: `publish` encodes the payload into chunks and appends them to each remote's
 * bounded queue; a writer per remote (protocols/results-writer.ts) dials lazily, writes with
 * `send()` and waits on `onDrain()` when the stream pushes back. A remote that cannot be
 * reached is backed off and its results are dropped (to the others it is an erasure, which
 * the code absorbs).
 *
 * Receiving: each inbound stream feeds a `FrameReader`; a frame is accepted only when its job
 * id matches, its sender index matches the authenticated remote peer id, and it fits the
 * caps; it is then reassembled into the round's inbox (protocols/results-inbox.ts). Memory is
 * bounded per sender and in total. A bad frame is dropped and its sender's score lowered; a
 * stream whose length prefix is out of bounds is reset. Nothing a remote sends can throw out
 * of the handler.
 *
 * Collecting: a round is complete when `want` results are in, or when `threshold` are in and
 * the grace period has passed, or at `timeoutMs`. The grace period, unless given, adapts to
 * observed arrivals: median + k·MAD of how long after the threshold-th result the others came.
 */
import { logger, type Logger } from '@libp2p/logger'
import type { Connection, PeerId, Stream, Startable } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { isAuditPhase, type Collected, type CollectPolicy, type Exchange, type RoundKey } from '../training/exchange.ts'
import { decideCollect, LatenessEstimator, type Arrival } from '../training/collect.ts'
import type { Matrix } from '../codes/matrix.ts'
import {
  DEFAULT_FRAME_LIMITS, FrameReader, encodePrefixedFrames, type FrameLimits, type FrameView
} from './frame.ts'
import { RemoteWriter } from './results-writer.ts'
import { Inbox, usableResults, type Round } from './results-inbox.ts'

/** The slice of a libp2p node the exchange needs. */
export interface ResultExchangeComponents {
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, opts?: { maxInboundStreams?: number, maxOutboundStreams?: number }) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: PeerId, protocol: string, opts?: { signal?: AbortSignal }) => Promise<Stream>
}

export interface ResultExchangeInit {
  protocol: string
  /** First 8 bytes of the job hash. */
  jobId: Uint8Array
  self: number
  /** Member peer ids; index = shard index. */
  members: readonly PeerId[]
  limits?: FrameLimits
  /** Bytes queued for one remote before further results to it are dropped. Default 64 MiB. */
  maxQueuedBytes?: number
  /** Bytes of received payloads held per sender. Default 64 MiB. */
  maxInboxBytesPerSender?: number
  dialTimeoutMs?: number
  /** k in median + k·MAD. Default 4. */
  graceK?: number
  /**
   * A member that delivered nothing for this long is presumed down: collections stop waiting
   * for it (it is an erasure) until it delivers again. Default 3000 ms.
   */
  presumeDownAfterMs?: number
  /** Grace used before any arrivals were observed. Default 250 ms. */
  initialGraceMs?: number
  minGraceMs?: number
  maxGraceMs?: number
  log?: Logger
}

export interface PeerLinkStats {
  index: number
  peerId: string
  /** Starts at 0; every dropped frame from this peer lowers it by 1, every accepted result raises it by 0.1 up to 0. */
  score: number
  framesDropped: number
  resultsReceived: number
  lastSeenMs: number | null
  /** Outbound link state. */
  connected: boolean
  sendFailures: number
  resultsDroppedOutbound: number
}

export interface ExchangeStats {
  bytesSent: number
  bytesReceived: number
  framesSent: number
  framesReceived: number
  framesDropped: number
  dropReasons: Record<string, number>
  graceMs: Record<string, number>
  peers: PeerLinkStats[]
}

export class ExchangeClosedError extends Error {
  override name = 'ExchangeClosedError'
}

const now = (): number => performance.now()

/** Frames of steps this far beyond the peer's own are dropped ('far-future'): memory stays bounded. */
export const FUTURE_STEPS = 64

/** The part of the stream handler that sees remote bytes; fed by the handler or by tests. */
export interface InboundSession {
  push: (bytes: Uint8Array | Uint8ArrayList) => void
  /** False once the session's framing broke; the caller resets the stream. */
  readonly healthy: boolean
}

export class ResultExchange implements Exchange, Startable {
  readonly self: number
  readonly peers: number
  readonly protocol: string
  readonly components: ResultExchangeComponents
  readonly maxQueuedBytes: number
  readonly dialTimeoutMs: number
  readonly log: Logger
  stopped = true
  bytesSent = 0
  framesSent = 0
  private readonly jobId: Uint8Array
  private readonly limits: FrameLimits
  private readonly members: readonly PeerId[]
  private readonly indexOf = new Map<string, number>()
  private readonly writers: RemoteWriter[] = []
  private readonly inbox: Inbox
  private readonly score: number[]
  private readonly dropsFrom: number[]
  private readonly resultsFrom: number[]
  private readonly lastSeen: Array<number | null>
  /** Each member's newest product frame: where it is (step, attempt, and how far into the step). */
  private readonly lastRound: Array<{ step: number, attempt: number, at: number, seq: number, phase: string, layer: number } | null>
  /** The re-checks of the collections in progress (woken when a member is heard at a new step). */
  private readonly waiting = new Set<() => void>()
  /** Product results heard (orders positions: "heard since"). */
  heard = 0
  private readonly lateness: LatenessEstimator
  private readonly presumeDownAfterMs: number
  private startedAt = 0
  private readonly streams = new Set<Stream>()
  private controller = new AbortController()
  private minStep = 0
  /** The newest step this peer published a result of (frames more than FUTURE_STEPS beyond are not kept). */
  private ownStep = 0
  bytesReceived = 0
  framesReceived = 0
  framesDropped = 0
  readonly dropReasons: Record<string, number> = {}

  constructor (components: ResultExchangeComponents, init: ResultExchangeInit) {
    this.components = components
    this.protocol = init.protocol
    this.jobId = init.jobId
    this.self = init.self
    this.members = init.members
    this.peers = init.members.length
    this.limits = init.limits ?? DEFAULT_FRAME_LIMITS
    this.maxQueuedBytes = init.maxQueuedBytes ?? 64 * 1024 * 1024
    this.dialTimeoutMs = init.dialTimeoutMs ?? 5000
    this.presumeDownAfterMs = init.presumeDownAfterMs ?? 3000
    this.lateness = new LatenessEstimator({ k: init.graceK, initialMs: init.initialGraceMs, minMs: init.minGraceMs, maxMs: init.maxGraceMs })
    this.log = init.log ?? logger('codenet:results')
    init.members.forEach((p, i) => {
      this.indexOf.set(p.toString(), i)
      if (i !== this.self) this.writers[i] = new RemoteWriter(this, i, p)
    })
    this.inbox = new Inbox(this.peers, init.maxInboxBytesPerSender ?? 64 * 1024 * 1024)
    this.score = new Array(this.peers).fill(0)
    this.dropsFrom = new Array(this.peers).fill(0)
    this.resultsFrom = new Array(this.peers).fill(0)
    this.lastSeen = new Array(this.peers).fill(null)
    this.lastRound = new Array(this.peers).fill(null)
  }

  get stopSignal (): AbortSignal { return this.controller.signal }

  async start (): Promise<void> {
    this.controller = new AbortController()
    this.stopped = false
    this.startedAt = Date.now()
    await this.components.handle(this.protocol, (stream, connection) => { this.handleStream(stream, connection) }, {
      maxInboundStreams: 8, maxOutboundStreams: 8
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.controller.abort(new ExchangeClosedError('exchange stopped'))
    await this.components.unhandle(this.protocol).catch(() => {})
    for (const w of this.writers) w?.close(new ExchangeClosedError('exchange stopped'))
    for (const s of this.streams) { try { s.abort(new ExchangeClosedError('exchange stopped')) } catch {} }
    this.streams.clear()
    for (const r of this.inbox.all()) r.notify?.()
  }

  indexOfPeer (peer: string): number | undefined { return this.indexOf.get(peer) }

  private handleStream (stream: Stream, connection: Connection): void {
    const index = this.indexOf.get(connection.remotePeer.toString())
    if (index === undefined || index === this.self) {
      this.drop(null, 'not-a-member')
      stream.abort(new Error('not a member of this job'))
      return
    }
    this.streams.add(stream)
    // The member opened a stream to us: it is up (again, after a restart). Stop backing off
    // from it, or what this peer sends it in the next seconds would be dropped.
    this.writers[index]?.peerIsBack()
    const session = this.inboundSession(index)
    stream.addEventListener('message', (evt) => {
      session.push(evt.data)
      if (!session.healthy) stream.abort(new Error('malformed stream'))
    })
    stream.addEventListener('close', () => { this.streams.delete(stream) })
  }

  /** The handler's core for bytes from member `index`. Never throws. */
  inboundSession (index: number): InboundSession {
    const reader = new FrameReader({ limits: this.limits, expectJob: this.jobId })
    return {
      push: (bytes) => {
        this.bytesReceived += bytes.byteLength
        for (const item of reader.push(bytes)) {
          if (!item.ok) { this.drop(index, item.error.code); continue }
          this.framesReceived++
          this.accept(index, item.frame)
        }
      },
      get healthy () { return reader.poisoned === null }
    }
  }

  /** Late or repeated frames are normal on a lossy network: counted, not held against the sender. */
  private drop (index: number | null, reason: string): void {
    this.framesDropped++
    this.dropReasons[reason] = (this.dropReasons[reason] ?? 0) + 1
    if (index !== null && reason !== 'stale-step' && reason !== 'duplicate' && reason !== 'far-future') {
      this.dropsFrom[index]++
      this.score[index] -= 1
    }
  }

  private accept (index: number, f: FrameView): void {
    if (f.sender !== index) { this.drop(index, 'spoofed-sender'); return }
    if (f.step < this.minStep) { this.drop(index, 'stale-step'); return }
    if (f.phase === 'forward' || f.phase === 'backward') {
      const before = this.lastRound[index]
      this.lastRound[index] = { step: f.step, attempt: f.attempt, at: Date.now(), seq: ++this.heard, phase: f.phase, layer: f.layer }
      // A member heard further on: rounds still waiting for it may now give up on it.
      if (before === null || before.step !== f.step || before.phase !== f.phase || before.layer !== f.layer) for (const wake of this.waiting) wake()
    }
    // Where a member says it is counts as a position (a restarted peer rejoins from it, the
    // median of the members' positions is robust to f liars), but a frame far ahead of this
    // peer is not kept: nothing it computes soon needs it, and it would pin memory.
    if (f.step > Math.max(this.minStep, this.ownStep) + FUTURE_STEPS) { this.drop(index, 'far-future'); return }
    const got = this.inbox.add(index, f)
    if (got === null) return
    if ('drop' in got) { this.drop(index, got.drop); return }
    this.complete(got.round, index, got.result)
    this.resultsFrom[index]++
    this.lastSeen[index] = Date.now()
    this.score[index] = Math.min(0, this.score[index] + 0.1)
  }

  private complete (r: Round, index: number, m: Matrix): void {
    const t = now()
    r.results.set(index, m)
    r.arrivedAt.set(index, t)
    if (r.thresholdAt !== null && t > r.thresholdAt) this.sample(r.phase, t - r.thresholdAt)
    r.notify?.()
  }

  private sample (phase: string, ms: number): void { this.lateness.sample(phase, ms) }

  graceFor (phase: string): number { return this.lateness.graceMs(phase) }

  async publish (key: RoundKey, payload: Matrix, to?: readonly number[]): Promise<void> {
    if (this.stopped) throw new ExchangeClosedError('exchange stopped')
    if (key.step < this.minStep) return
    if (key.step > this.ownStep) this.ownStep = key.step
    const targets = to ?? this.members.map((_, i) => i)
    // Our own result always counts for our own collection (as in the in-memory exchange),
    // whoever else it is sent to.
    {
      const r = this.inbox.round(key)
      if (!r.results.has(this.self)) {
        this.complete(r, this.self, { rows: payload.rows, cols: payload.cols, data: payload.data.slice() })
      }
    }
    const remote = targets.filter(i => i !== this.self && this.writers[i] !== undefined)
    if (remote.length === 0) return
    const frames = encodePrefixedFrames({ jobId: this.jobId, step: key.step, layer: key.layer, phase: key.phase, attempt: key.attempt, sender: this.self, rows: payload.rows, cols: payload.cols }, payload.data)
    for (const i of remote) this.writers[i].enqueue(frames)
  }

  /** Members not presumed down (this peer always counts). */
  live (): Set<number> {
    const t = Date.now()
    const out = new Set<number>()
    for (let i = 0; i < this.peers; i++) {
      const seen = this.lastSeen[i]
      if (i === this.self || (seen !== null ? t - seen < this.presumeDownAfterMs : t - this.startedAt < this.presumeDownAfterMs * 3)) out.add(i)
    }
    return out
  }

  /**
   * Runs the collect rule of training/collect.ts on wall-clock arrival times: decide now, on
   * every arrival, and at the deadline the rule names.
   */
  async collect (key: RoundKey, policy: CollectPolicy): Promise<Collected> {
    const start = now()
    const r = this.inbox.round(key)
    // Waiting for a member that is down buys nothing (it is an erasure); nor for one already
    // heard at a later step of this attempt: its frames come in order on one stream, so what it has not
    // delivered for this round was dropped (its writer backed off: this peer had restarted)
    // or never computed (it did not take part: it decided otherwise) — it will not come.
    // The same holds within a step for the audit's rounds (sketches, audit votes, shards) a
    // peer holds at step s between publishing its first forward product of s and computing
    // on: a member heard at step s beyond that (a later forward layer, or backward) has passed
    // them — it did not audit here — and sends nothing more for them. (Not so for the vote on
    // step s, keyed s and sent after s's backward products, at the start of step s + 1.)
    const liveAtStart = this.live()
    const audit = isAuditPhase(key.phase)
    const passed = (pos: { step: number, phase: string, layer: number }): boolean =>
      pos.step > key.step || (audit && pos.step === key.step && (pos.phase === 'backward' || pos.layer > 0))
    const liveNow = (): Set<number> => {
      const out = new Set<number>()
      for (const i of liveAtStart) {
        const pos = this.lastRound[i]
        // Same attempt only: a position of an earlier attempt (before a rollback) says nothing
        // about this round, and the final rounds meet at attempt 0 from every attempt.
        if (i === this.self || r.results.has(i) || pos === null || pos.attempt !== key.attempt || !passed(pos)) out.add(i)
      }
      return out
    }
    const usable = (): Map<number, Matrix> => usableResults(r, this.self, i => { this.drop(i, 'shape-mismatch') })
    // The adaptive grace as it stands when the collection starts, as simulate's exchange takes it
    // (training/memory-exchange.ts): this round's own late arrivals count from the next round on.
    const adaptiveGraceMs = this.graceFor(key.phase)
    let timedOut = false
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null
      /** When the armed timer fires, ms from `start`: most arrivals leave the deadline where it was. */
      let timerAtMs = -1
      const cleanup = (): void => {
        if (timer !== null) clearTimeout(timer)
        this.waiting.delete(check)
        policy.signal?.removeEventListener('abort', onAbort)
        r.notify = null
      }
      const onAbort = (): void => { cleanup(); reject(policy.signal?.reason ?? new Error('aborted')) }
      const check = (): void => {
        if (this.stopped) { timedOut = r.results.size < policy.threshold; cleanup(); resolve(); return }
        const results = usable()
        const arrivals: Arrival[] = [...results.keys()]
          .map(from => ({ from, atMs: Math.max(0, (r.arrivedAt.get(from) as number) - start) }))
          .sort((a, b) => a.atMs - b.atMs || a.from - b.from)
        // Lateness is measured from the moment the round could first be decoded.
        if (r.thresholdAt === null && arrivals.length >= policy.threshold && policy.threshold > 0) {
          r.thresholdAt = start + arrivals[policy.threshold - 1].atMs
        }
        const live = liveNow()
        if (live.size < liveAtStart.size && arrivals.length < policy.threshold) {
          // Members overtook this round without delivering: when too few are left who may
          // still deliver to reach the threshold, waiting for the timeout buys nothing.
          let left = 0
          for (const i of live) if (!results.has(i)) left++
          if (arrivals.length + left < policy.threshold) { timedOut = true; cleanup(); resolve(); return }
        }
        const d = decideCollect(policy, { peers: this.peers, arrivals, nowMs: now() - start, live, adaptiveGraceMs }, () => results)
        if (d.done) { timedOut = d.timedOut; cleanup(); resolve(); return }
        if (timer !== null && d.wakeAtMs === timerAtMs) return
        if (timer !== null) clearTimeout(timer)
        timerAtMs = d.wakeAtMs
        timer = setTimeout(() => { timer = null; check() }, Math.max(0, d.wakeAtMs - (now() - start)))
      }
      if (policy.signal?.aborted === true) { onAbort(); return }
      policy.signal?.addEventListener('abort', onAbort, { once: true })
      r.notify = check
      this.waiting.add(check)
      check()
    })
    const results = usable()
    const arrivalMs = new Map<number, number>()
    for (const [i, t] of r.arrivedAt) if (results.has(i)) arrivalMs.set(i, Math.max(0, t - start))
    return { results, arrivalMs, timedOut: timedOut || results.size < policy.threshold }
  }

  prune (step: number): void {
    if (step <= this.minStep) return
    this.minStep = step
    this.inbox.prune(step, this.self)
  }

  /**
   * Where the others are: the (step, attempt) of the newest forward/backward frame from each
   * member and when it arrived (Date.now()), null for members not heard from. A restarted peer uses it to rejoin the round
   * the others are in.
   */
  positions (): Array<{ step: number, attempt: number, at: number, seq: number, phase: string, layer: number } | null> { return this.lastRound.map(p => p === null ? null : { ...p }) }

  /** Resolves once everything queued has been written (or given up on), or after `timeoutMs`. */
  async flush (timeoutMs = 5000): Promise<void> {
    const end = now() + timeoutMs
    while (now() < end && this.writers.some(w => w !== undefined && w.queuedBytes > 0)) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /** The lowest step still accepted. */
  get prunedBefore (): number { return this.minStep }

  stats (): ExchangeStats {
    const grace = this.lateness.all()
    return {
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      framesSent: this.framesSent,
      framesReceived: this.framesReceived,
      framesDropped: this.framesDropped,
      dropReasons: { ...this.dropReasons },
      graceMs: grace,
      peers: this.members.map((p, i) => ({
        index: i,
        peerId: p.toString(),
        score: this.score[i],
        framesDropped: this.dropsFrom[i],
        resultsReceived: this.resultsFrom[i],
        lastSeenMs: this.lastSeen[i] === null ? null : Date.now() - (this.lastSeen[i] as number),
        connected: i === this.self || (this.writers[i]?.connected ?? false),
        sendFailures: this.writers[i]?.failures ?? 0,
        resultsDroppedOutbound: this.writers[i]?.dropped ?? 0
      }))
    }
  }
}

export function createResultExchange (components: ResultExchangeComponents, init: ResultExchangeInit): ResultExchange {
  return new ResultExchange(components, init)
}
