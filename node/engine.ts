/**
 * One codenet peer running one job: join, train, leave.
 *
 *   start     identity from the data dir, libp2p host, gossip topics, control protocol
 *   join      hellos on the job's join topic until the barrier closes (P members, each of which
 *             has seen all P); index = rank of the peer id; the result exchange starts; training
 *             starts once every member says it is ready
 *   train     the trainer (`training/peer.ts`) steps over the libp2p exchange; every verified
 *             checkpoint is written to the data dir; agreed verdicts are cross-checked over gossip
 *   rejoin    a restarted peer restores its checkpoint; when the others are further on (seen from
 *             their frames), it moves to their next step and attempt with its stale state: its
 *             results are flagged, the audit agrees on it, and its shard is repaired from the
 *             healthy peers (the trainer's audit/repair rounds); the same happens whenever it
 *             falls far behind
 *   finish    the collective 'weights' round decodes the model; summary + weights are returned
 *
 * The trainer numbers its attempts from 0; a peer that rejoined after the others rolled back
 * maps its attempts onto the network's through an offset (`TrainerExchange` below), so no training
 * code needs to know about restarts.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Exchange, RoundKey, CollectPolicy, Collected } from '../training/exchange.ts'
import type { Matrix } from '../codes/matrix.ts'
import type { CodeScheme, DecodeMode } from '../codes/scheme.ts'
import { createPeerTrainer, type PeerTrainer, type StepReport } from '../training/peer.ts'
import { serializeCheckpoint, deserializeCheckpoint, CheckpointError } from '../training/checkpoint.ts'
import { createFaultInjector, type FaultInjector, type FaultSite } from '../training/faults.ts'
import { datasetForConfig } from '../training/simulate.ts'
import { codeSummary } from '../training/strategy.ts'
import type { RunSummary } from '../training/summary.ts'
import { testAccuracy, exportWeights, type WeightsExport } from '../training/evaluate.ts'
import type { Dataset } from '../training/dataset.ts'
import type { ErrorKind } from '../training/config.ts'
import { jobHash, jobNames, JoinBarrier, parseHello, encodeGossip, MAX_GOSSIP_BYTES, type Hello, type JobSpec, type JobNames } from '../protocols/job.ts'
import { ResultExchange } from '../protocols/results.ts'
import { controlStreamHandler, CONTROL_PROTOCOL, type ControlHandlers } from '../protocols/control.ts'
import { createHost, dialableAddresses, type CodenetHost } from './peer.ts'
import { loadOrCreateIdentity, createCheckpointStore, StoreError, saveKnownPeers, loadKnownPeers, type CheckpointStore } from './store.ts'

export class EngineError extends Error {
  override name = 'EngineError'
}

/** Soft errors this peer injects into its own work (testing aid: a peer that computes wrong). */
export interface LocalFaults {
  rate: number
  kind: ErrorKind
  magnitude: number
  sites?: FaultSite[]
}

/**
 * Optional hooks for a fault controller (node/faults.ts) or other instrumentation: they wrap
 * what the trainer uses and add control requests; the engine's own logic does not change.
 */
export interface EngineHooks {
  /** Wraps the fault injector the trainer uses. */
  wrapInjector?: (base: FaultInjector) => FaultInjector
  /** Wraps the exchange the trainer uses. */
  wrapExchange?: (inner: Exchange) => Exchange
  /** Called once the barrier closed and the result exchange listens. */
  joined?: (ctx: { members: readonly PeerId[], self: number, resultsProtocol: string, dialProtocol: CodenetHost['dialProtocol'] }) => void
  /** Extra control request handlers (`status` stays the engine's). */
  control?: ControlHandlers
  /** Merged into the status answer under `controller`. */
  status?: () => Record<string, unknown>
}

export interface EngineOptions {
  hooks?: EngineHooks
  job: JobSpec
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  swarmKey?: Uint8Array
  /** Default: the job's dataset (MNIST or synthetic). */
  dataset?: Dataset
  faults?: LocalFaults
  /** A round gives up after this long (ms). Default 15 s. */
  roundTimeoutMs?: number
  /** Give up joining after this long (ms). Default 10 min. */
  joinTimeoutMs?: number
  /** Human-readable progress lines. */
  print?: (line: string) => void
  signal?: AbortSignal
}

/** `faults.silent` cannot be known by a real peer (it has no ground truth): always null here. */
export interface PeerSummary extends RunSummary<number | null> {
  /** Extra, per peer. */
  self: number
  peerId: string
  job: string
  restoredFrom: number | null
  rejoins: number
  attemptedSteps: number
  framesDropped: number
  verdictDisagreements: number
}

export interface PeerResult {
  summary: PeerSummary
  weights: WeightsExport
}

interface VerdictMsg {
  type: 'verdict'
  job: string
  peer: string
  step: number
  attempt: number
  rollback: boolean
  flagged: number[]
  repaired: number[]
}

function parseVerdict (data: Uint8Array, job: string, peers: number): VerdictMsg | null {
  if (data.length > MAX_GOSSIP_BYTES) return null
  let v: any
  try { v = JSON.parse(new TextDecoder().decode(data)) } catch { return null }
  const idx = (a: unknown): boolean => Array.isArray(a) && a.length <= peers && a.every(x => Number.isInteger(x) && x >= 0 && x < peers)
  if (v?.type !== 'verdict' || v.job !== job || typeof v.peer !== 'string' || !Number.isInteger(v.step) || !Number.isInteger(v.attempt) ||
    typeof v.rollback !== 'boolean' || !idx(v.flagged) || !idx(v.repaired)) return null
  return v as VerdictMsg
}

/**
 * The exchange the trainer sees. Two jobs on top of the libp2p exchange:
 *  - it maps the trainer's attempt numbers onto the network's (see the header);
 *  - it is patient with inconsistent products: when the results in hand for a forward or
 *    backward round do not decode (an error among too few results, e.g. because a slow peer
 *    missed the deadline), it waits for more results from members that are up, and only when
 *    none can come does it hand the trainer what it has (which then declares the round
 *    uncorrectable and the network rolls back).
 */
class TrainerExchange implements Exchange {
  offset = 0
  /** After a stale rejoin: leave our own products out of our decodes until we are repaired. */
  distrustSelf = false
  scheme: CodeScheme | null = null
  mode: DecodeMode = 'probabilistic'
  extraWaits = 0
  private readonly inner: ResultExchange
  constructor (inner: ResultExchange) { this.inner = inner }
  get self (): number { return this.inner.self }
  get peers (): number { return this.inner.peers }
  private map (k: RoundKey): RoundKey { return { ...k, attempt: k.attempt + this.offset } }
  async publish (key: RoundKey, payload: Matrix, to?: readonly number[]): Promise<void> { await this.inner.publish(this.map(key), payload, to) }
  prune (step: number): void { this.inner.prune(step) }

  async collect (key: RoundKey, policy: CollectPolicy): Promise<Collected> {
    const start = performance.now()
    const k = this.map(key)
    const phase = key.phase
    const product = phase === 'forward' || phase === 'backward'
    const distrust = this.distrustSelf && product
    const withoutSelf = (x: Collected): Collected => {
      if (!distrust) return x
      const results = new Map(x.results); results.delete(this.self)
      const arrivalMs = new Map(x.arrivalMs); arrivalMs.delete(this.self)
      return { results, arrivalMs, timedOut: x.timedOut }
    }
    // Our own (untrusted) result must not count towards the threshold either.
    let pol = distrust ? { ...policy, threshold: Math.min(policy.threshold + 1, this.peers) } : policy
    // The audit judges replicated state by a strict majority of all peers: with fewer sketches
    // in hand it can only call the round undecidable (a needless rollback on a slow network).
    if (phase === 'audit') pol = { ...pol, threshold: Math.max(pol.threshold, Math.min(this.peers, Math.floor(this.peers / 2) + 1)) }
    let c = withoutSelf(await this.inner.collect(k, pol))
    if (this.scheme === null || c.timedOut || !product) return c
    while (c.results.size < this.peers) {
      let ok = false
      try { ok = this.scheme.decode(phase, c.results, { mode: this.mode }).ok } catch {}
      if (ok) break
      const live = this.inner.live()
      if ([...live].every(i => c.results.has(i) || (distrust && i === this.self))) break
      const left = policy.timeoutMs - (performance.now() - start)
      if (left <= 0) break
      this.extraWaits++
      const more = withoutSelf(await this.inner.collect(k, { threshold: c.results.size + (distrust ? 2 : 1), want: this.peers, graceMs: 0, timeoutMs: left, signal: policy.signal }))
      if (more.results.size <= c.results.size) break
      c = { ...more, timedOut: false }
    }
    return c
  }
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]
}

export interface PeerHealth {
  index: number
  peerId: string
  /** Agreed verdicts that named this peer. */
  flagged: number
  /** Times it was repaired. */
  repaired: number
  score: number
  framesDropped: number
  lastResultMs: number | null
  lastHelloMs: number | null
  step: number | null
  state: 'self' | 'healthy' | 'suspect' | 'unreachable' | 'done'
}

export class PeerEngine {
  readonly opts: EngineOptions
  readonly names: JobNames
  readonly hash: string
  host!: CodenetHost
  private store!: CheckpointStore
  private barrier!: JoinBarrier
  private exchange: ResultExchange | null = null
  private attempts: TrainerExchange | null = null
  private trainer: PeerTrainer | null = null
  private faults: FaultInjector | null = null
  private members: PeerId[] = []
  private self = -1
  private helloTimer: ReturnType<typeof setInterval> | null = null
  private readonly log = logger('codenet:engine')
  private readonly print: (line: string) => void
  private phase: 'starting' | 'joining' | 'training' | 'finishing' | 'done' = 'starting'
  private done = false
  private readonly started = Date.now()
  private readonly losses: number[] = []
  private readonly stepMs: number[] = []
  private readonly correct: number[] = []
  private readonly counters = { injected: 0, detected: 0, corrected: 0, uncorrectable: 0 }
  private rollbacks = 0
  private repairs = 0
  private rejoins = 0
  private attempted = 0
  private restoredFrom: number | null = null
  private readonly timing = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  private readonly flaggedCount: number[] = []
  private readonly repairedCount: number[] = []
  private readonly myVerdicts = new Map<string, string>()
  private verdictDisagreements = 0
  private lastCheckpointWritten: number | null = null

  constructor (opts: EngineOptions) {
    this.opts = opts
    this.hash = jobHash(opts.job)
    this.names = jobNames(this.hash)
    this.print = opts.print ?? (() => {})
  }

  get peerId (): string { return this.host.peerId.toString() }

  /** Identity, host, topics and the control protocol. */
  async start (): Promise<void> {
    const { key, created } = await loadOrCreateIdentity(this.opts.dataDir)
    this.store = createCheckpointStore(this.opts.dataDir)
    this.host = await createHost({
      privateKey: key, listen: this.opts.listen, bootstrap: this.opts.bootstrap, mdns: this.opts.mdns, swarmKey: this.opts.swarmKey
    })
    this.log('peer %s (%s identity)', this.host.peerId.toString(), created ? 'new' : 'saved')
    this.barrier = new JoinBarrier(this.host.peerId.toString(), this.opts.job.config.peers)
    this.knownPeers = await loadKnownPeers(this.opts.dataDir)
    // libp2p 3 does not dial what discovery (mDNS, bootstrap) finds: we do, while it is cheap.
    this.host.addEventListener('peer:discovery', (evt) => {
      const id = evt.detail.id
      if (id.equals(this.host.peerId) || this.host.getConnections(id).length > 0 || this.host.getConnections().length > 64) return
      this.log('discovered %s', id.toString())
      this.host.dial(id, { signal: AbortSignal.timeout(5000) }).catch((err: Error) => { this.log('dial %s failed: %s', id.toString(), err.message) })
    })
    const pubsub = this.host.services.pubsub
    pubsub.subscribe(this.names.topics.join)
    pubsub.subscribe(this.names.topics.verdict)
    pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.type !== 'signed') return
      if (msg.topic === this.names.topics.join) this.onHello(msg.from.toString(), msg.data)
      else if (msg.topic === this.names.topics.verdict) this.onVerdict(msg.from.toString(), msg.data)
    })
    await this.host.handle(CONTROL_PROTOCOL, controlStreamHandler({ ...this.opts.hooks?.control, status: () => this.status() }), { maxInboundStreams: 16 })
    this.helloTimer = setInterval(() => { void this.tick() }, 500)
    void this.tick()
  }

  addresses (): string[] { return dialableAddresses(this.host) }

  private hello (): Hello {
    const st = this.trainer?.status()
    return {
      type: 'hello',
      job: this.hash,
      peer: this.host.peerId.toString(),
      step: st?.step ?? 0,
      attempt: (st?.attempt ?? 0) + (this.attempts?.offset ?? 0),
      ready: this.exchange !== null,
      done: this.done,
      seen: this.barrier.seen(),
      addrs: dialableAddresses(this.host).slice(0, 16)
    }
  }

  /** Every 500 ms: say hello, keep the bootstrap peers and the members connected. */
  private knownPeers: string[] = []
  private knownPeersSavedAt = 0

  /** Member addresses from their hellos, saved in the data dir every few seconds (a hint for restarts). */
  private async rememberPeers (): Promise<void> {
    if (this.members.length === 0 || Date.now() - this.knownPeersSavedAt < 5000) return
    this.knownPeersSavedAt = Date.now()
    const addrs: string[] = []
    for (const m of this.members) {
      const h = this.barrier.helloOf(m.toString())
      if (h === undefined || m.equals(this.host.peerId)) continue
      for (const a of h.addrs) if (a.endsWith(`/p2p/${h.peer}`)) addrs.push(a)
    }
    if (addrs.length > 0) await saveKnownPeers(this.opts.dataDir, addrs).catch(() => {})
  }

  private async tick (): Promise<void> {
    try {
      await this.host.services.pubsub.publish(this.names.topics.join, encodeGossip(this.hello()))
    } catch (err) {
      this.log('hello not sent: %s', (err as Error).message)
    }
    const connected = new Set(this.host.getConnections().map(c => c.remotePeer.toString()))
    void this.rememberPeers()
    // Until the barrier closes, also try the members this data dir knew last time.
    const contacts = this.members.length === 0 ? [...(this.opts.bootstrap ?? []), ...this.knownPeers] : (this.opts.bootstrap ?? [])
    for (const addr of contacts) {
      const id = /\/p2p\/([^/]+)$/.exec(addr)?.[1]
      if (id !== undefined && (connected.has(id) || id === this.peerId)) continue
      try { this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(2000) }).catch(() => {}) } catch {}
    }
    for (const m of this.members) {
      if (m.equals(this.host.peerId) || connected.has(m.toString())) continue
      this.host.dial(m, { signal: AbortSignal.timeout(2000) }).catch(() => {})
    }
  }

  private onHello (from: string, data: Uint8Array): void {
    const h = parseHello(data, this.hash, this.opts.job.config.peers)
    if (h === null || h.peer !== from) { this.log('dropped a malformed hello from %s', from); return }
    this.barrier.observe(h)
    // Learn where the peer listens, so a restarted peer (new port) is reachable again.
    try {
      const id = peerIdFromString(h.peer)
      const addrs = h.addrs.flatMap(a => { try { return [multiaddr(a.replace(/\/p2p\/[^/]+$/, ''))] } catch { return [] } })
      if (addrs.length > 0) void this.host.peerStore.merge(id, { multiaddrs: addrs }).catch(() => {})
    } catch {}
  }

  private onVerdict (from: string, data: Uint8Array): void {
    const v = parseVerdict(data, this.hash, this.opts.job.config.peers)
    if (v === null || v.peer !== from) return
    const mine = this.myVerdicts.get(`${v.step}/${v.attempt}`)
    const theirs = JSON.stringify([v.rollback, v.flagged, v.repaired])
    if (mine !== undefined && mine !== theirs) {
      this.verdictDisagreements++
      this.print(`verdict of step ${v.step} differs at ${from}: ${theirs} vs ${mine}`)
    }
  }

  private async join (signal: AbortSignal): Promise<void> {
    this.phase = 'joining'
    const deadline = Date.now() + (this.opts.joinTimeoutMs ?? 600_000)
    let members: string[] | null = null
    let lastSeen = 0
    while ((members = this.barrier.members()) === null) {
      if (signal.aborted) throw new EngineError('stopped while joining')
      if (Date.now() > deadline) throw new EngineError(`no ${this.opts.job.config.peers} peers joined within ${(this.opts.joinTimeoutMs ?? 600_000) / 1000} s (saw ${this.barrier.seen().length})`)
      const seen = this.barrier.seen().length
      if (seen !== lastSeen) { this.print(`joined ${seen}/${this.opts.job.config.peers} peers`); lastSeen = seen }
      await sleep(100)
    }
    this.members = members.map(s => peerIdFromString(s))
    this.self = members.indexOf(this.peerId)
    this.print(`barrier closed: ${members.length} peers, this peer is index ${this.self}`)
    this.exchange = new ResultExchange(this.host, {
      protocol: this.names.protocols.results, jobId: this.names.jobId, self: this.self, members: this.members,
      log: logger(`codenet:results:${this.self}`)
    })
    await this.exchange.start()
    this.attempts = new TrainerExchange(this.exchange)
    this.opts.hooks?.joined?.({ members: this.members, self: this.self, resultsProtocol: this.names.protocols.results, dialProtocol: this.host.dialProtocol.bind(this.host) })
    void this.tick()
    // Start together: wait until every member's exchange listens (or they are already training).
    while (!this.barrier.allReady(members) && !members.some(m => (this.barrier.helloOf(m)?.step ?? 0) > 0)) {
      if (signal.aborted) throw new EngineError('stopped while joining')
      if (Date.now() > deadline) throw new EngineError('members did not all become ready')
      await sleep(50)
    }
  }

  /**
   * Where the other members are, from their newest result frames: the median (attempt, step)
   * of the frames that arrived since `since` (this peer's last rollback: frames from before it
   * describe a past the network may have left). Null until half the others were heard since.
   */
  private networkPosition (since: number): { step: number, attempt: number } | null {
    const ps = (this.exchange?.positions() ?? [])
      .filter((p, i): p is { step: number, attempt: number, at: number } => p !== null && i !== this.self && p.at > since)
    if (ps.length < Math.ceil((this.members.length - 1) / 2)) return null
    ps.sort((a, b) => a.attempt - b.attempt || a.step - b.step)
    return ps[Math.floor(ps.length / 2)]
  }

  private lastRollbackAt = 0

  /**
   * Move to the network's next step with this peer's (stale) state when it is far behind or
   * ahead, or on another attempt (the network rolled back while this peer was away, or this peer
   * rolled back alone): until the audit repairs its shards it does not trust its own results.
   */
  private maybeRejoin (trainer: PeerTrainer, restarted = false): void {
    if (this.attempts === null) return
    const mine = trainer.currentStep
    const myAttempt = trainer.status().attempt + this.attempts.offset
    const pos = this.networkPosition(this.lastRollbackAt)
    if (pos === null) return
    // A restarted peer always moves past what was published while it was down.
    if (!restarted && pos.attempt === myAttempt && Math.abs(pos.step - mine) < 3) return
    const target = pos.step + 1
    if (target >= trainer.totalSteps) return
    const ck = trainer.checkpoint()
    ck.step = target
    trainer.restore(ck)
    this.attempts.offset = pos.attempt - trainer.status().attempt
    this.attempts.distrustSelf = true
    this.exchange?.prune(target)
    this.rejoins++
    this.print(`rejoining at step ${target} (was at ${mine}/${myAttempt}; network at ${pos.step}/${pos.attempt}): stale shards, expecting repair`)
  }

  private async saveCheckpoint (trainer: PeerTrainer): Promise<void> {
    const ck = trainer.checkpoint()
    const path = await this.store.save(ck.step, {
      meta: { job: this.hash, peer: this.peerId, index: this.self, step: ck.step, attempt: trainer.status().attempt + (this.attempts?.offset ?? 0) },
      blobs: new Map([['trainer', serializeCheckpoint(ck)]])
    })
    this.lastCheckpointWritten = ck.step
    this.log('checkpoint %d written to %s', ck.step, path)
  }

  private async restoreCheckpoint (trainer: PeerTrainer): Promise<void> {
    const latest = await this.store.loadLatest((file, err) => { this.print(`refused checkpoint ${file}: ${err.message}`) })
    if (latest === null) return
    const meta = latest.ck.meta
    if (meta.job !== this.hash || meta.peer !== this.peerId) {
      this.print(`ignoring checkpoint of step ${latest.step}: it belongs to another job or peer`)
      return
    }
    const blob = latest.ck.blobs.get('trainer')
    try {
      if (blob === undefined) throw new CheckpointError('checkpoint has no trainer state')
      trainer.restore(deserializeCheckpoint(blob))
      this.restoredFrom = latest.step
      this.lastCheckpointWritten = latest.step
      this.print(`restored checkpoint of step ${latest.step}`)
    } catch (err) {
      if (err instanceof CheckpointError || err instanceof StoreError) this.print(`refused checkpoint of step ${latest.step}: ${err.message}`)
      else throw err
    }
  }

  private record (r: StepReport, ms: number): void {
    this.attempted++
    for (const k of ['computeMs', 'encodeMs', 'decodeMs', 'waitMs'] as const) this.timing[k] += r.timing[k]
    this.stepMs.push(ms)
    this.counters.detected += r.flagged.length + r.uncorrectable
    this.counters.uncorrectable += r.uncorrectable
    if (r.outcome === 'ok') this.counters.corrected += r.flagged.length
    for (const f of r.agreed.flagged) this.flaggedCount[f] = (this.flaggedCount[f] ?? 0) + 1
    for (const f of r.repaired) this.repairedCount[f] = (this.repairedCount[f] ?? 0) + 1
    if (r.repaired.length > 0) { this.repairs += r.repaired.length; this.counters.detected += r.repaired.length; this.counters.corrected += r.repaired.length }
    if (r.outcome === 'rolled-back') { this.rollbacks++; return }
    this.losses.push(r.loss)
    this.correct.push(r.correct / r.batch)
  }

  private publishVerdict (r: StepReport): void {
    const attempt = r.attempt + (this.attempts?.offset ?? 0)
    const msg: VerdictMsg = { type: 'verdict', job: this.hash, peer: this.peerId, step: r.step, attempt, rollback: r.outcome === 'rolled-back', flagged: r.agreed.flagged, repaired: r.repaired }
    this.myVerdicts.set(`${r.step}/${attempt}`, JSON.stringify([msg.rollback, msg.flagged, msg.repaired]))
    if (this.myVerdicts.size > 256) this.myVerdicts.delete(this.myVerdicts.keys().next().value as string)
    this.host.services.pubsub.publish(this.names.topics.verdict, encodeGossip(msg)).catch(() => {})
  }

  /** Join, train to the end, decode the model. */
  async run (): Promise<PeerResult> {
    const signal = this.opts.signal ?? new AbortController().signal
    const config = this.opts.job.config
    const dataset = this.opts.dataset ?? datasetForConfig(config)
    await this.join(signal)
    const f = this.opts.faults
    const baseFaults = createFaultInjector({
      seed: config.seed, rate: f?.rate ?? config.errorRate, kind: f?.kind ?? config.errorKind,
      magnitude: f?.magnitude ?? config.errorMagnitude, model: config.errorModel, sites: f?.sites, peers: [this.self]
    })
    this.faults = this.opts.hooks?.wrapInjector?.(baseFaults) ?? baseFaults
    const trainerExchange = this.opts.hooks?.wrapExchange?.(this.attempts as TrainerExchange) ?? this.attempts as TrainerExchange
    const trainer = createPeerTrainer({
      config, self: this.self, exchange: trainerExchange, dataset, faults: this.faults,
      timeoutMs: this.opts.roundTimeoutMs ?? 15_000, log: (m) => { this.print(m) }
    })
    this.trainer = trainer
    const tx = this.attempts as TrainerExchange
    tx.scheme = trainer.scheme
    tx.mode = config.errorModel
    await this.restoreCheckpoint(trainer)
    this.phase = 'training'
    // A restarted peer waits to hear where the others are before it steps.
    if (this.restoredFrom !== null || this.members.some(m => (this.barrier.helloOf(m.toString())?.step ?? 0) > trainer.currentStep + 2)) {
      const until = Date.now() + 5000
      while (this.networkPosition(0) === null && Date.now() < until) await sleep(50)
      this.maybeRejoin(trainer, true)
    }
    while (!trainer.done) {
      if (signal.aborted) throw new EngineError('stopped')
      const t0 = performance.now()
      const r = await trainer.step()
      const ms = performance.now() - t0
      this.record(r, ms)
      this.counters.injected = this.faults.injected
      this.publishVerdict(r)
      if (r.checkpointed !== null) await this.saveCheckpoint(trainer)
      const st = trainer.status()
      if (r.outcome === 'rolled-back') this.lastRollbackAt = Date.now()
      // Trusted again once repaired, or once an audit found our shard on the code word.
      if (this.attempts !== null && (r.repairedSelf || (r.checkpointed !== null && !r.agreed.flagged.includes(this.self)))) this.attempts.distrustSelf = false
      if (r.outcome === 'rolled-back') this.print(`step ${r.step}: rolled back to ${r.rolledBackTo}`)
      else if (r.agreed.flagged.length > 0 || r.repaired.length > 0 || st.step % 20 === 0 || trainer.done) {
        this.print(`step ${st.step}/${trainer.totalSteps} loss ${r.loss.toFixed(4)}${r.agreed.flagged.length > 0 ? ` flagged [${r.agreed.flagged.join(',')}]` : ''}${r.repaired.length > 0 ? ` repaired [${r.repaired.join(',')}]` : ''} ${ms.toFixed(0)} ms`)
      }
      this.maybeRejoin(trainer)
    }
    this.phase = 'finishing'
    const model = await trainer.decodedWeights()
    this.done = true
    void this.tick()
    const window = Math.min(trainer.stepsPerEpoch, trainer.totalSteps)
    const tail = this.losses.slice(-window)
    const ex = this.exchange as ResultExchange
    const summary: PeerSummary = {
      strategy: config.strategy,
      peers: config.peers,
      code: codeSummary(trainer.scheme),
      steps: trainer.totalSteps,
      epochs: trainer.totalSteps / trainer.stepsPerEpoch,
      wallSeconds: (Date.now() - this.started) / 1000,
      testAccuracy: testAccuracy(model, dataset),
      trainLoss: tail.length === 0 ? NaN : tail.reduce((s, x) => s + x, 0) / tail.length,
      faults: { ...this.counters, silent: null },
      rollbacks: this.rollbacks,
      repairs: this.repairs,
      timing: {
        computeS: this.timing.computeMs / 1000,
        encodeS: this.timing.encodeMs / 1000,
        decodeS: this.timing.decodeMs / 1000,
        waitS: this.timing.waitMs / 1000,
        stepMs: { median: quantile(this.stepMs, 0.5), p95: quantile(this.stepMs, 0.95) }
      },
      bytesSent: ex.stats().bytesSent,
      self: this.self,
      peerId: this.peerId,
      job: this.hash,
      restoredFrom: this.restoredFrom,
      rejoins: this.rejoins,
      attemptedSteps: this.attempted,
      framesDropped: ex.stats().framesDropped,
      verdictDisagreements: this.verdictDisagreements
    }
    this.phase = 'done'
    return { summary, weights: exportWeights(model) }
  }

  /** Let the others finish their last rounds with our results, then leave. */
  async stop (lingerMs = 0): Promise<void> {
    if (this.exchange !== null) await this.exchange.flush(5000)
    if (lingerMs > 0) await sleep(lingerMs)
    if (this.helloTimer !== null) clearInterval(this.helloTimer)
    this.helloTimer = null
    await this.exchange?.stop()
    await this.host?.stop()
  }

  health (): PeerHealth[] {
    const ex = this.exchange?.stats()
    return this.members.map((m, i) => {
      const h = this.barrier.helloOf(m.toString())
      const link = ex?.peers[i]
      const helloAge = h === undefined ? null : Date.now() - h.at
      let state: PeerHealth['state'] = 'healthy'
      if (i === this.self) state = 'self'
      else if (h?.done === true) state = 'done'
      else if (helloAge === null || helloAge > 5000) state = 'unreachable'
      else if ((link?.score ?? 0) < -5 || (this.flaggedCount[i] ?? 0) > (this.repairedCount[i] ?? 0)) state = 'suspect'
      return {
        index: i,
        peerId: m.toString(),
        flagged: this.flaggedCount[i] ?? 0,
        repaired: this.repairedCount[i] ?? 0,
        score: link?.score ?? 0,
        framesDropped: link?.framesDropped ?? 0,
        lastResultMs: link?.lastSeenMs ?? null,
        lastHelloMs: helloAge,
        step: i === this.self ? (this.trainer?.currentStep ?? null) : (h?.step ?? null),
        state
      }
    })
  }

  /** What the control protocol's `status` answers. */
  status (): Record<string, unknown> {
    const st = this.trainer?.status()
    const ex = this.exchange?.stats()
    const acc = this.correct.slice(-50)
    return {
      job: this.hash,
      peerId: this.host.peerId.toString(),
      index: this.self,
      phase: this.phase,
      addresses: this.addresses(),
      step: st?.step ?? 0,
      totalSteps: st?.totalSteps ?? null,
      attempt: (st?.attempt ?? 0) + (this.attempts?.offset ?? 0),
      loss: this.losses.length > 0 ? this.losses[this.losses.length - 1] : null,
      trainAccuracy: acc.length > 0 ? acc.reduce((s, x) => s + x, 0) / acc.length : null,
      faults: { ...this.counters, injected: this.faults?.injected ?? 0 },
      rollbacks: this.rollbacks,
      repairs: this.repairs,
      rejoins: this.rejoins,
      restoredFrom: this.restoredFrom,
      lastCheckpoint: this.lastCheckpointWritten,
      verdictDisagreements: this.verdictDisagreements,
      peers: this.health(),
      timing: {
        computeS: this.timing.computeMs / 1000,
        encodeS: this.timing.encodeMs / 1000,
        decodeS: this.timing.decodeMs / 1000,
        waitS: this.timing.waitMs / 1000,
        stepMs: { median: quantile(this.stepMs, 0.5), p95: quantile(this.stepMs, 0.95) }
      },
      bytes: { sent: ex?.bytesSent ?? 0, received: ex?.bytesReceived ?? 0 },
      frames: { sent: ex?.framesSent ?? 0, received: ex?.framesReceived ?? 0, dropped: ex?.framesDropped ?? 0, dropReasons: ex?.dropReasons ?? {} },
      graceMs: ex?.graceMs ?? {},
      ...(this.opts.hooks?.status !== undefined ? { controller: this.opts.hooks.status() } : {})
    }
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export function createPeerEngine (opts: EngineOptions): PeerEngine {
  return new PeerEngine(opts)
}
