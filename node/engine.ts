/**
 * One codenet peer running one job: join, train, leave.
 *
 *   start     identity from the data dir, libp2p host, gossip topics, control protocol
 *   join      hellos on the job's join topic (node/membership.ts) until the barrier closes (P
 *             members, each of which has seen all P); index = rank of the peer id; the result
 *             exchange starts; training starts once every member says it is ready
 *   train     the trainer (`training/trainer/`) steps over the libp2p exchange; every verified
 *             checkpoint is written to the data dir; agreed verdicts are cross-checked over gossip
 *   rejoin    a restarted peer restores its checkpoint; when the others are further on (seen from
 *             their frames), it moves to their next step and attempt with its stale state: its
 *             results are flagged, the audit agrees on it, and its shard is repaired from the
 *             healthy peers (the trainer's audit/repair rounds); the same happens whenever it
 *             falls far behind
 *   finish    the collective 'weights' round decodes the model; summary (counted step by step
 *             in node/run-tally.ts) + weights are returned
 *
 * Where the network is (step, attempt) is the trainer's business: it resyncs by itself when
 * it finds the others elsewhere (training/trainer/resync.ts); the engine only tells a restarted
 * peer to move past what was published while it was down.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Exchange } from '../training/exchange.ts'
import { UncorrectableError } from '../codes/errors.ts'
import { networkPosition } from '../training/trainer/resync.ts'
import { createPeerTrainer, type PeerTrainer } from '../training/trainer/index.ts'
import { serializeCheckpoint, deserializeCheckpoint, CheckpointError } from '../training/checkpoint.ts'
import { createFaultInjector, type FaultInjector, type FaultSite } from '../training/soft-errors.ts'
import { datasetForConfig } from '../training/simulate.ts'
import { schemeForConfig } from '../training/strategy.ts'
import type { RunSummary } from '../training/summary.ts'
import { testAccuracy, exportWeights, type WeightsExport } from '../training/evaluate.ts'
import type { Dataset } from '../training/dataset.ts'
import type { ErrorKind } from '../training/config.ts'
import { jobHash, jobNames, type JobSpec, type JobNames } from '../protocols/job.ts'
import { MAX_GOSSIP_BYTES } from '../protocols/gossip.ts'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { Admission, AdmissionError } from '../protocols/admission.ts'
import type { ControllerStatus, PeerHealth, PeerStatus, RestrictedStatus } from '../protocols/status.ts'
import { peerHealth, peerStatus } from './status.ts'
import { ResultExchange } from '../protocols/results.ts'
import { controlStreamHandler, CONTROL_PROTOCOL, type ControlHandlers } from '../protocols/control.ts'
import { createHost, dialableAddresses, type CodenetHost } from './peer.ts'
import { loadOrCreateIdentity, createCheckpointStore, StoreError, type CheckpointStore } from './store.ts'
import { Membership } from './membership.ts'
import { RunTally, type PeerCpu } from './run-tally.ts'

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
 * Optional hooks for a fault controller (node/fault-controller.ts) or other instrumentation: they wrap
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
  status?: () => ControllerStatus
}

export interface EngineOptions {
  hooks?: EngineHooks
  job: JobSpec
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  swarmKey?: Uint8Array
  /** The controller's peer id (the control key's, node/control-auth.ts): it and the members see the full status. */
  controller?: string
  /** This peer's admission ticket (a job that admits by key: `codenet job admit`). */
  ticket?: string
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
  /** How many peers this process runs (a `codenet host`): the summary's CPU is this peer's share. */
  processPeers?: () => number
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
  /** CPU this peer spent training, maths vs protocol (node/run-tally.ts). */
  cpu: PeerCpu
}

export interface PeerResult {
  summary: PeerSummary
  weights: WeightsExport
}


export class PeerEngine {
  readonly opts: EngineOptions
  readonly names: JobNames
  readonly hash: string
  host!: CodenetHost
  private store!: CheckpointStore
  private membership!: Membership
  private exchange: ResultExchange | null = null
  private trainer: PeerTrainer | null = null
  private faults: FaultInjector | null = null
  private self = -1
  private readonly log = logger('codenet:engine')
  private readonly print: (line: string) => void
  private phase: 'starting' | 'joining' | 'training' | 'finishing' | 'done' = 'starting'
  private done = false
  private readonly started = Date.now()
  private readonly tally = new RunTally()
  private restoredFrom: number | null = null
  private verdictDisagreements = 0
  private cpuAtStart: NodeJS.CpuUsage = process.cpuUsage()
  private admission!: Admission
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
    try {
      this.admission = new Admission(this.hash, this.opts.job.admission)
    } catch (err) {
      if (err instanceof AdmissionError) throw new EngineError(`the job file's admission is unusable: ${err.message}`)
      throw err
    }
    if (!this.admission.admits(this.peerId, this.opts.ticket)) {
      throw new EngineError(this.opts.ticket === undefined
        ? `this peer (${this.peerId}) is not admitted to job ${this.hash.slice(0, 16)}: ask the job's owner for a ticket (\`codenet job admit ${this.peerId}\`) and pass it with --ticket FILE`
        : `the ticket does not admit this peer (${this.peerId}) to job ${this.hash.slice(0, 16)}`)
    }
    if (this.admission.open) this.print('WARNING: this job admits anyone who knows its hash (no admission in the job file: make it with `codenet job init`, which adds one)')
    this.membership = new Membership(this.host, {
      admission: this.admission,
      ...(this.opts.ticket !== undefined ? { ticket: this.opts.ticket } : {}),
      job: this.hash, peers: this.opts.job.config.peers, joinTopic: this.names.topics.join, dataDir: this.opts.dataDir, bootstrap: this.opts.bootstrap, log: this.log,
      progress: () => {
        const st = this.trainer?.status()
        return { step: st?.step ?? 0, attempt: st?.attempt ?? 0, ready: this.exchange !== null, done: this.done }
      }
    })
    await this.membership.start()
    const pubsub = this.host.services.pubsub
    // Only the join topic: verdicts travel on the result frames (the trainer's agreement), so
    // nothing is gossiped per step. The validator drops (and does not forward) what is too
    // large, unsigned or from a peer that is not admitted, before the barrier sees it.
    pubsub.topicValidators.set(this.names.topics.join, (_from, msg) => {
      if (msg.type !== 'signed' || msg.data.length > MAX_GOSSIP_BYTES) return TopicValidatorResult.Reject
      const v = this.membership.validate(msg.from.toString(), msg.data)
      // A stale hello is honest traffic overtaken by a newer one: not forwarded, not penalised.
      return 'hello' in v ? TopicValidatorResult.Accept : v.drop === 'stale' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
    })
    pubsub.subscribe(this.names.topics.join)
    pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.type !== 'signed') return
      if (msg.topic === this.names.topics.join) this.membership.onHello(msg.from.toString(), msg.data)
    })
    await this.host.handle(CONTROL_PROTOCOL, controlStreamHandler({ ...this.opts.hooks?.control, status: (_req, from) => this.statusFor(from.toString()) }), { maxInboundStreams: 16 })
    this.membership.startHellos()
  }

  addresses (): string[] { return dialableAddresses(this.host) }

  private async join (signal: AbortSignal): Promise<void> {
    this.phase = 'joining'
    const deadline = Date.now() + (this.opts.joinTimeoutMs ?? 600_000)
    let members: string[] | null = null
    let lastSeen = 0
    const barrier = this.membership.barrier
    while ((members = barrier.members()) === null) {
      if (signal.aborted) throw new EngineError('stopped while joining')
      if (Date.now() > deadline) throw new EngineError(`no ${this.opts.job.config.peers} peers joined within ${(this.opts.joinTimeoutMs ?? 600_000) / 1000} s (saw ${barrier.seen().length})`)
      const seen = barrier.seen().length
      if (seen !== lastSeen) { this.print(`joined ${seen}/${this.opts.job.config.peers} peers`); lastSeen = seen }
      await sleep(100)
    }
    this.membership.members = members.map(s => peerIdFromString(s))
    this.self = members.indexOf(this.peerId)
    this.print(`barrier closed: ${members.length} peers, this peer is index ${this.self}`)
    this.exchange = new ResultExchange(this.host, {
      protocol: this.names.protocols.results, jobId: this.names.jobId, self: this.self, members: this.membership.members,
      log: logger(`codenet:results:${this.self}`)
    })
    await this.exchange.start()
    this.opts.hooks?.joined?.({ members: this.membership.members, self: this.self, resultsProtocol: this.names.protocols.results, dialProtocol: this.host.dialProtocol.bind(this.host) })
    void this.membership.tick()
    // Start together: wait until every member's exchange listens (or they are already training).
    while (!barrier.allReady(members) && !members.some(m => (barrier.helloOf(m)?.step ?? 0) > 0)) {
      if (signal.aborted) throw new EngineError('stopped while joining')
      if (Date.now() > deadline) throw new EngineError('members did not all become ready')
      await sleep(50)
    }
  }

  /** The verified state (the last checkpoint the quorum confirmed), not the speculative one. */
  private async saveCheckpoint (trainer: PeerTrainer): Promise<void> {
    const ck = trainer.verifiedCheckpoint()
    const path = await this.store.save(ck.step, {
      meta: { job: this.hash, peer: this.peerId, index: this.self, step: ck.step, attempt: trainer.status().attempt },
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
      trainer.restore(deserializeCheckpoint(blob, { maxStep: trainer.totalSteps }))
      this.restoredFrom = latest.step
      this.lastCheckpointWritten = latest.step
      this.print(`restored checkpoint of step ${latest.step}`)
    } catch (err) {
      if (err instanceof CheckpointError || err instanceof StoreError) this.print(`refused checkpoint of step ${latest.step}: ${err.message}`)
      else throw err
    }
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
    const o = baseFaults.options
    if (o.rate > 0) this.print(`soft errors armed: rate ${o.rate}, ${o.kind} σ ${o.magnitude}, at ${(o.sites ?? ['every site']).join(', ')}`)
    this.faults = this.opts.hooks?.wrapInjector?.(baseFaults) ?? baseFaults
    const results = this.exchange as ResultExchange
    const trainerExchange = this.opts.hooks?.wrapExchange?.(results) ?? results
    const trainer = createPeerTrainer({
      config, scheme: schemeForConfig(config), self: this.self, exchange: trainerExchange, dataset, faults: this.faults,
      timeoutMs: this.opts.roundTimeoutMs ?? 15_000, log: (m) => { this.print(m) }
    })
    this.trainer = trainer
    this.cpuAtStart = process.cpuUsage()
    await this.restoreCheckpoint(trainer)
    this.phase = 'training'
    // A restarted peer waits to hear where the others are, then moves past what was published
    // while it was down (its own state is stale until the audit repairs it).
    if (this.membership.members.length > 1 && (this.restoredFrom !== null || this.membership.members.some(m => (this.membership.barrier.helloOf(m.toString())?.step ?? 0) > trainer.currentStep + 2))) {
      // Until half the others were heard computing (their frames reach the new address once
      // their hellos tell them it; on a loaded machine that takes seconds): up to a minute.
      const until = Date.now() + 60_000
      let pos = null
      this.print('restarted: waiting to hear where the others are')
      while ((pos = networkPosition(results.positions(), this.self, 0)) === null && Date.now() < until) {
        if (signal.aborted) throw new EngineError('stopped')
        await sleep(50)
      }
      // The others have been heard computing pos.step: they compute the next one next.
      if (pos !== null && pos.step + 1 < trainer.totalSteps) {
        this.print(`rejoining at step ${pos.step + 1} (restored ${trainer.currentStep}; the network at ${pos.step}/${pos.attempt}): stale shards, expecting repair`)
        trainer.rejoin(pos.step + 1, pos.attempt)
        this.tally.rejoins++
      }
    }
    while (!trainer.done) {
      if (signal.aborted) throw new EngineError('stopped')
      const t0 = performance.now()
      const r = await trainer.step()
      // Stopped (or, in a host, crashed) during the step: nothing more, not even its checkpoint.
      if (signal.aborted) throw new EngineError('stopped')
      const ms = performance.now() - t0
      if (r.outcome === 'rolled-back' || r.resynced !== null || r.uncorrectable > 0) this.checkOthersDone(trainer.currentStep)
      this.tally.record(r, ms)
      this.tally.counters.injected = this.faults.injected
      this.verdictDisagreements += r.contradicted.length
      if (trainer.currentStep >= 10) this.membership.training()
      if (r.checkpointed !== null) await this.saveCheckpoint(trainer)
      const st = trainer.status()
      if (r.resynced !== null) this.print(`resync from step ${r.resynced.from.step}/${r.resynced.from.attempt} to ${r.resynced.verified === true ? `its verified checkpoint ${r.resynced.to.step} at the network's attempt ${r.resynced.to.attempt}` : `the network's ${r.resynced.to.step}/${r.resynced.to.attempt}: stale shards, expecting repair`}`)
      if (r.outcome === 'rolled-back') this.print(`step ${r.decided ?? r.step}: rolled back to ${r.rolledBackTo}`)
      else if (r.agreed.flagged.length > 0 || r.repaired.length > 0 || st.step % 20 === 0 || trainer.done) {
        this.print(`step ${st.step}/${trainer.totalSteps}${Number.isFinite(r.loss) ? ` loss ${r.loss.toFixed(4)}` : ''}${r.agreed.flagged.length > 0 ? ` flagged [${r.agreed.flagged.join(',')}]` : ''}${r.repaired.length > 0 ? ` repaired [${r.repaired.join(',')}]` : ''} ${ms.toFixed(0)} ms`)
      }
    }
    this.phase = 'finishing'
    let model
    try { model = await trainer.decodedWeights() } catch (err) {
      // Refused, never guessed: most often the others finished while this peer was away, so no
      // quorum was left to repair its stale shards.
      if (err instanceof UncorrectableError) throw new EngineError(`cannot decode the final model (${err.message}): too few peers were left at step ${trainer.totalSteps} to check or repair this peer's shards — did the others finish while it was down?`)
      throw err
    }
    this.done = true
    void this.membership.tick()
    const summary = this.tally.summary({
      config,
      trainer,
      wallSeconds: (Date.now() - this.started) / 1000,
      testAccuracy: testAccuracy(model, dataset),
      exchange: (this.exchange as ResultExchange).stats(),
      self: this.self,
      peerId: this.peerId,
      job: this.hash,
      restoredFrom: this.restoredFrom,
      verdictDisagreements: this.verdictDisagreements,
      cpuAtStart: this.cpuAtStart,
      processPeers: this.opts.processPeers?.() ?? 1
    })
    this.phase = 'done'
    return { summary, weights: exportWeights(model) }
  }

  /**
   * After a step that did not go on: members that finished are gone for good, and once too few
   * are left for a quorum of votes (a strict majority of P) this peer can neither decide a step
   * nor be repaired — most often it came back from a crash too late. Say so instead of rolling
   * back until stalled. (A peer merely behind catches up from results already in its inbox:
   * its steps go on, and this is not asked.)
   */
  private checkOthersDone (step: number): void {
    const members = this.membership.members
    const done = this.othersDoneCount()
    if (done > 0 && 2 * (members.length - done) <= members.length) {
      throw new EngineError(`the job finished without this peer: ${done} of the other ${members.length - 1} members are done, too few are left to decide or repair step ${step}`)
    }
  }

  /** Let the others finish their last rounds with our results, then leave. */
  async stop (lingerMs = 0): Promise<void> {
    if (this.exchange !== null) await this.exchange.flush(5000)
    // The linger is for members still finishing their last rounds: it ends once every member
    // has said (in its hello) that it is done.
    const until = Date.now() + lingerMs
    while (Date.now() < until && !this.othersDone()) await sleep(20)
    this.membership?.stop()
    await this.exchange?.stop()
    await this.host?.stop()
  }

  /**
   * Stop at once, as the death of a process would stop this peer: no flush of queued results,
   * no linger; connections close. A hosted peer's crash (its host process lives on).
   */
  async abort (): Promise<void> {
    this.membership?.stop()
    try { await this.exchange?.stop() } catch {}
    try { await this.host?.stop() } catch {}
  }

  /** The other members whose latest hello says they are done. */
  private othersDoneCount (): number {
    const members = this.membership?.members ?? []
    return members.filter((m, i) => i !== this.self && this.membership.barrier.helloOf(m.toString())?.done === true).length
  }

  /** Every other member's latest hello says it is done (false before the barrier). */
  private othersDone (): boolean {
    const members = this.membership?.members ?? []
    return members.length > 0 && this.othersDoneCount() === members.length - 1
  }

  health (): PeerHealth[] {
    return peerHealth({
      members: this.membership.members.map(m => m.toString()),
      self: this.self,
      helloOf: p => this.membership.barrier.helloOf(p),
      links: this.exchange?.stats().peers,
      flagged: this.tally.flaggedCount,
      repaired: this.tally.repairedCount,
      selfStep: this.trainer?.currentStep ?? null
    })
  }

  /** The full status for members and the controller; phase and step for anyone else. */
  statusFor (from: string): PeerStatus | RestrictedStatus {
    if (from === this.opts.controller || this.membership.members.some(m => m.toString() === from)) return this.status()
    return { restricted: true, phase: this.phase, step: this.trainer?.currentStep ?? 0 }
  }

  /** What the control protocol's `status` answers (to members and the controller). */
  status (): PeerStatus {
    return peerStatus({
      job: this.hash,
      peerId: this.host.peerId.toString(),
      index: this.self,
      phase: this.phase,
      addresses: this.addresses(),
      trainer: this.trainer?.status(),
      losses: this.tally.losses,
      correct: this.tally.correct,
      counters: this.tally.counters,
      injected: this.faults?.injected ?? 0,
      rollbacks: this.tally.rollbacks,
      repairs: this.tally.repairs,
      rejoins: this.tally.rejoins,
      restoredFrom: this.restoredFrom,
      lastCheckpoint: this.lastCheckpointWritten,
      verdictDisagreements: this.verdictDisagreements,
      peers: this.health(),
      timing: this.tally.timing,
      stepMs: this.tally.stepMs,
      exchange: this.exchange?.stats(),
      controller: this.opts.hooks?.status?.()
    })
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export function createPeerEngine (opts: EngineOptions): PeerEngine {
  return new PeerEngine(opts)
}
