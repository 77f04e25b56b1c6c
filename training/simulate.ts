/**
 * `codenet simulate`: P peer trainers in one process over the in-memory exchange,
 * deterministic for a seed, with the ground truth only a simulator can have.
 *
 * Ground truth. The simulator holds the true uncoded weights (and biases, momentum) and
 * moves them with the update operands (Δ_l, A_l) the peers agree on (the value most peers
 * hold). Every decode a peer accepts is compared with the exact product of the true
 * weights and the agreed operand of that round; at every checkpoint every shard is
 * compared with Enc_p(true W). A rolled-back step is forgotten, and the truth returns
 * to its copy at the checkpoint the peers restored.
 *
 * Counters (faults.*), precisely:
 *   injected       soft errors the injector wrote (any site, any attempt, rolled back or not)
 *   detected       (round, sender) pairs some peer's decoder flagged as wrong, + rounds some
 *                  peer could not decode, + peers an audit found with a wrong shard or bias
 *   corrected      flagged (round, sender) pairs of rounds every peer still decoded (the error
 *                  was removed in the same round), + peers whose state was repaired
 *   uncorrectable  rounds some peer could not decode, + audits that could not tell healthy
 *                  shards from bad ones (each leads to a rollback)
 *   silent         rounds of committed steps in which some peer accepted a decode whose
 *                  relative error against the exact product exceeds 1e-6, + shards found
 *                  wrong at a checkpoint although the audit passed them
 * rollbacks counts rolled-back steps; repairs counts peers whose state was rebuilt.
 */
import { quantile } from '../codes/stats.ts'
import type { TrainingConfig } from './config.ts'
import { DatasetError, type Dataset } from './dataset.ts'
import { loadFileDataset } from './data/load.ts'
import type { DataProgress } from './data/read.ts'
import { loadMnist } from './mnist.ts'
import { syntheticDataset } from './synthetic.ts'
import { createMemoryNetwork, type MemoryNetworkOptions } from './memory-exchange.ts'
import { withAdversaries } from './adversaries.ts'
import { networkPosition } from './trainer/resync.ts'
import type { Checkpoint } from './checkpoint.ts'
import { createFaultInjector, type FaultSite, type ScheduledFault } from './soft-errors.ts'
import { createPeerTrainer, StalledError, type DecodeObservation, type PeerTrainer, type StepReport } from './trainer/index.ts'
import { createReferenceTrainer, type ReferenceState, type StepProducts } from './reference.ts'
import { codeSummary, schemeForConfig } from './strategy.ts'
import type { Model } from './model.ts'
import { testAccuracy } from './evaluate.ts'
import { relativeDistance } from './recovery.ts'
import { roundKeyString } from './exchange.ts'
import type { RunSummary } from './summary.ts'
import { applyPartitions, checkpointMismatches, majorityReport, majorityStep, sharingDecodes } from './simulate-support.ts'

export const SILENT_TOLERANCE = 1e-6

export type FaultCounters = RunSummary['faults']

export interface SimulationSummary extends RunSummary {
  /** Extra: what the run was and what the truth says. */
  model: number[]
  batch: number
  seed: number
  errorRate: number
  errorKind: string
  errorModel: string
  dataset: string
  attemptedSteps: number
  /** Steps committed (= steps unless the run stalled). */
  completedSteps: number
  /** Why training stopped early (too many rollbacks in a row), or null. */
  stalled: string | null
  /** Times a peer found the network elsewhere (lost votes, a lone rollback) and moved there. */
  resyncs: number
  groundTruth: { testAccuracy: number, weightRelativeError: number }
  network: { messages: number, dropped: number, corrupted: number, delayed: number }
}

export interface Progress {
  step: number
  totalSteps: number
  epoch: number
  loss: number
  faults: FaultCounters
  rollbacks: number
  repairs: number
}

export interface SimulateOptions {
  config: TrainingConfig
  /** Default: MNIST or the synthetic set, as the config says. */
  dataset?: Dataset
  /** Link faults and stragglers of the memory exchange. */
  network?: Omit<MemoryNetworkOptions, 'peers' | 'seed'>
  faultSchedule?: readonly ScheduledFault[]
  faultSites?: readonly FaultSite[]
  faultPeers?: readonly number[]
  /** Peers whose every published product is coherently wrong (training/adversaries.ts). */
  byzantinePeers?: readonly number[]
  /** Peers whose every vote lies. */
  lyingVoters?: readonly number[]
  /** From when the network reaches fromStep, for toStep − fromStep steps of time, results cross only within a group. */
  partitions?: readonly Partition[]
  /** A peer process dies when the network reaches `atStep` and restarts `downSteps` later from its last verified checkpoint. */
  crashes?: readonly Crash[]
  onProgress?: (p: Progress) => void
  /** Called after every simulated step with every peer's report. */
  onStep?: (reports: readonly StepReport[]) => void
  log?: (msg: string) => void
  /** Share one decode among peers that received the very same results (default true): a pure-function cache, it changes no outcome. */
  shareDecodes?: boolean
}

export interface Partition {
  fromStep: number
  toStep: number
  /** Peer groups; peers in no group form one more. */
  groups: ReadonlyArray<readonly number[]>
}

export interface Crash {
  peer: number
  atStep: number
  downSteps: number
}

export interface SimulationResult {
  summary: SimulationSummary
  /** The decoded model (from the peers' shards). */
  model: Model
  /** The simulator's ground-truth model. */
  truth: Model
  trainers: PeerTrainer[]
}

export class SimulationError extends Error {
  override name = 'SimulationError'
}

/**
 * The config's data: MNIST, the synthetic task, or files (csv:/idx:, training/data/), which
 * must hash as the config says (a peer with a differing copy refuses, naming the file) and fit
 * the model. Files are read once per process (later calls are served from memory).
 */
export function datasetForConfig (c: TrainingConfig, opts: { progress?: DataProgress } = {}): Dataset {
  if (c.dataset === 'mnist') return loadMnist()
  if (c.dataset === 'synthetic') return syntheticDataset({ inputSize: c.model[0], classes: c.model[c.model.length - 1], seed: c.seed })
  if (c.data === undefined) throw new DatasetError(`--dataset ${c.dataset}: the config lacks the files' sha256 (data)`)
  const { dataset } = loadFileDataset({ dataset: c.dataset, ...c.data }, { sha256: c.data.sha256, progress: opts.progress })
  const want = [c.model[0], c.model[c.model.length - 1]]
  if (dataset.inputSize !== want[0] || dataset.classes !== want[1]) {
    throw new DatasetError(`${c.dataset}: ${dataset.inputSize} features and ${dataset.classes} classes, but the model ${c.model.join('-')} takes ${want[0]} and has ${want[1]} outputs`)
  }
  return dataset
}

export async function simulate (opts: SimulateOptions): Promise<SimulationResult> {
  const config = opts.config
  const P = config.peers
  const t0 = performance.now()
  const dataset = opts.dataset ?? datasetForConfig(config)
  const baseScheme = schemeForConfig(config)
  const scheme = opts.shareDecodes === false ? baseScheme : sharingDecodes(baseScheme)
  const network = createMemoryNetwork({ ...opts.network, peers: P, seed: config.seed })
  const faults = withAdversaries(createFaultInjector({
    seed: config.seed,
    rate: config.errorRate,
    kind: config.errorKind,
    magnitude: config.errorMagnitude,
    model: config.errorModel,
    sites: opts.faultSites,
    peers: opts.faultPeers,
    schedule: opts.faultSchedule
  }), { seed: config.seed, byzantinePeers: opts.byzantinePeers, lyingVoters: opts.lyingVoters, magnitude: config.errorMagnitude })

  // Observations of the step in flight.
  let decodes = new Map<string, { key: DecodeObservation['key'], obs: DecodeObservation[] }>()
  const observer = {
    decoded: (o: DecodeObservation) => {
      const k = roundKeyString(o.key)
      let e = decodes.get(k)
      if (e === undefined) { e = { key: o.key, obs: [] }; decodes.set(k, e) }
      e.obs.push(o)
    }
  }
  const newTrainer = (p: number): PeerTrainer => createPeerTrainer({
    config, self: p, exchange: network.exchange(p), dataset, scheme, faults, observer, log: opts.log
  })
  const trainers = Array.from({ length: P }, (_, p) => newTrainer(p))
  // Crashed peers: the checkpoint they restart from (what their disk holds) and when.
  const down = new Map<number, { checkpoint: Checkpoint, restartAt: number }>()
  const crashesLeft = [...(opts.crashes ?? [])]
  let iteration = 0

  // The truth: plain uncoded SGD on the same batches, moved one step per committed step and
  // never by what the peers accepted, so an error the peers let through shows as a gap.
  const reference = createReferenceTrainer(config, dataset)
  // Where the truth is: the next step it applies, and its state at the start and at the
  // network's recent checkpoints. It follows the network's step numbers, never its state: when
  // the majority moves (a rollback, a resync forward or back to a checkpoint), the truth
  // returns to its own state at that step or replays the steps the network took meanwhile.
  let truthStep = 0
  const truthAt = new Map<number, ReferenceState>([[0, reference.snapshot()]])
  const truthTo = (step: number): void => {
    if (step < truthStep) {
      const k = Math.max(...[...truthAt.keys()].filter(s => s <= step))
      reference.restore(truthAt.get(k) as ReferenceState)
      truthStep = k
    }
    while (truthStep < step) reference.step(truthStep++)
  }
  const keepTruth = (step: number): void => {
    truthAt.set(step, reference.snapshot())
    // The start and the 8 newest: rollbacks go to a recent checkpoint (older ones replay from the start).
    const old = [...truthAt.keys()].filter(s => s !== 0).sort((a, b) => a - b)
    for (const s of old.slice(0, Math.max(0, old.length - 8))) truthAt.delete(s)
  }
  const counters: FaultCounters = { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, silent: 0 }
  let rollbacks = 0; let repairs = 0; let attempted = 0; let resyncs = 0
  const stepMs: number[] = []
  const tot = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  const losses: number[] = []
  const totalSteps = trainers[0].totalSteps
  const lossWindow = Math.min(trainers[0].stepsPerEpoch, totalSteps)
  // The step computed speculatively in the last iteration: its silent decodes and loss count
  // once the quorum confirms it.
  let unconfirmed: { silent: number, loss: number } | null = null

  const partitionsStarted = new Map<number, number>()
  const restarting = new Set<number>()
  const restartHeardAt = new Map<number, number>()
  let stalled: string | null = null
  while (!trainers.every((t, p) => t.done && !down.has(p) && !restarting.has(p))) {
    decodes = new Map()
    iteration++
    const at = majorityStep(trainers, down)
    applyPartitions(network, opts.partitions ?? [], at, P, iteration, partitionsStarted)
    for (let i = crashesLeft.length - 1; i >= 0; i--) {
      const c = crashesLeft[i]
      if (at < c.atStep || down.has(c.peer)) continue
      crashesLeft.splice(i, 1)
      down.set(c.peer, { checkpoint: trainers[c.peer].verifiedCheckpoint(), restartAt: iteration + Math.max(1, c.downSteps) })
      opts.log?.(`peer ${c.peer} crashed at step ${at}`)
    }
    for (const [p, d] of down) {
      if (iteration < d.restartAt) continue
      // A new process: an empty inbox, the checkpoint from its disk; it listens for one step to
      // learn where the network is, then moves there (as a real peer's engine does).
      down.delete(p)
      network.restart(p)
      trainers[p] = newTrainer(p)
      trainers[p].restore(d.checkpoint)
      restarting.add(p)
      opts.log?.(`peer ${p} restarted from its checkpoint of step ${d.checkpoint.step}`)
    }
    for (const p of [...restarting]) {
      const pos = networkPosition(network.exchange(p).positions(), p, 0)
      if (pos === null || restartHeardAt.get(p) === undefined) { restartHeardAt.set(p, iteration); continue }
      restarting.delete(p)
      restartHeardAt.delete(p)
      // It heard the others compute pos.step while it listened: they compute the next one now.
      trainers[p].rejoin(Math.min(pos.step + 1, totalSteps), pos.attempt)
      resyncs++
    }
    let reports: StepReport[]
    const active = trainers.filter((t, p) => !t.done && !down.has(p) && !restarting.has(p))
    // Everyone running is done; a peer still down or listening comes back in a later iteration.
    if (active.length === 0) continue
    try {
      reports = await Promise.all(active.map(t => t.step()))
    } catch (err) {
      if (!(err instanceof StalledError)) throw err
      // Every peer hit the same limit in the same round; they all hold the last checkpoint.
      stalled = err.message
      rollbacks++
      counters.injected = faults.injected
      break
    }
    // The network's view: what most peers did (a minority that decided otherwise resyncs).
    const r0 = majorityReport(reports)
    for (const r of reports) if (r.resynced !== null) resyncs++
    if (r0.outcome === 'rolled-back') {
      rollbacks++
      unconfirmed = null
      truthTo(r0.rolledBackTo ?? 0)
      if (!r0.agreed.rollback) counters.uncorrectable++ // an undecidable audit
    } else if (r0.decided !== null && unconfirmed !== null) {
      counters.silent += unconfirmed.silent
      if (Number.isFinite(unconfirmed.loss)) losses.push(unconfirmed.loss)
      unconfirmed = null
    }
    // A voter that contradicted the quorum (a lying voter, or a peer that saw too little) is
    // detected; outvoted, it changed nothing.
    counters.detected += r0.contradicted.length
    counters.corrected += r0.contradicted.length
    if (r0.outcome === 'ok' && r0.audited) {
      counters.detected += r0.repaired.length
      counters.corrected += r0.repaired.length
      repairs += r0.repaired.length
    }
    if (r0.outcome === 'ok' && r0.checkpointed !== null) {
      // A state the audit passed must be the truth's, part by part (shards, coded momentum, biases, their momentum).
      const checkpointed = active.filter((_, i) => reports[i].checkpointed === r0.checkpointed)
      truthTo(r0.checkpointed)
      counters.silent += checkpointMismatches(checkpointed, reference.state(), baseScheme, config.momentum > 0, SILENT_TOLERANCE)
      keepTruth(r0.checkpointed)
    }
    // Detection counters, per round.
    for (const { obs } of decodes.values()) {
      const senders = new Set<number>()
      for (const o of obs) for (const f of o.flagged) if (f !== o.peer) senders.add(f)
      const failed = obs.some(o => o.value === null)
      counters.detected += senders.size + (failed ? 1 : 0)
      if (failed) counters.uncorrectable++
      else counters.corrected += senders.size
    }
    for (const r of reports) {
      tot.computeMs += r.timing.computeMs; tot.encodeMs += r.timing.encodeMs; tot.decodeMs += r.timing.decodeMs; tot.waitMs += r.timing.waitMs
    }
    stepMs.push(Math.max(...reports.map(r => r.timing.computeMs + r.timing.encodeMs + r.timing.decodeMs + r.timing.waitMs)))

    if (r0.computed) {
      attempted++
      // Silent errors: accepted decodes that differ from the truth's exact product.
      const products: StepProducts = { forward: [], backward: [] }
      truthTo(r0.step)
      reference.step(r0.step, products)
      truthStep = r0.step + 1
      let silent = 0
      for (const { key, obs } of decodes.values()) {
        if (key.step !== r0.step || key.attempt !== r0.attempt) continue
        const exact = key.phase === 'forward' ? products.forward[key.layer] : products.backward[key.layer]
        if (exact !== undefined && obs.some(o => o.value !== null && relativeDistance(o.value.data, exact.data) > SILENT_TOLERANCE)) silent++
      }
      unconfirmed = { silent, loss: r0.loss }
    }
    counters.injected = faults.injected
    opts.onStep?.(reports)
    opts.onProgress?.({
      step: trainers[0].currentStep,
      totalSteps,
      epoch: trainers[0].currentStep / trainers[0].stepsPerEpoch,
      loss: r0.loss,
      faults: { ...counters },
      rollbacks,
      repairs
    })
  }

  const selfRepairs = (): number => trainers.reduce((n, t) => n + t.status().repairs, 0)
  const repairedBefore = selfRepairs()
  // Every peer decodes the model by itself; a peer left out of the final rounds (it stalled
  // elsewhere) may fail to. Those that decode hold the same model; none at all is an error.
  const decoded = await Promise.allSettled(trainers.map(t => t.decodedWeights()))
  repairs += selfRepairs() - repairedBefore // the final audit's repairs
  const models = decoded.flatMap(d => d.status === 'fulfilled' ? [d.value] : [])
  const failedDecodes = decoded.length - models.length
  const why = (d: PromiseSettledResult<Model>): string => d.status === 'rejected' ? (d.reason instanceof Error ? d.reason.message : String(d.reason)) : ''
  // No peer could decode: the peers ended split (a stall that left them at different
  // checkpoints). A training failure, reported as such, with no model: every weight NaN.
  if (models.length === 0) {
    if (stalled === null) throw new SimulationError(`no peer could decode the final weights: ${why(decoded[0])}`)
    stalled = `${stalled}; no peer could decode the final weights (${why(decoded[0])})`
  } else if (failedDecodes > 0 && stalled === null) {
    stalled = `${failedDecodes} of ${P} peers could not decode the final weights (they were left behind)`
  }
  const model: Model = models[Math.floor(models.length / 2)] ?? {
    activation: config.activation,
    layers: reference.model.layers.map(l => ({ w: { rows: l.w.rows, cols: l.w.cols, data: new Float64Array(l.w.data.length).fill(NaN) }, b: new Float64Array(l.b.length).fill(NaN) }))
  }
  const truthModel: Model = reference.model
  let num = 0; let den = 0
  model.layers.forEach((layer, l) => {
    const t = truthModel.layers[l]
    for (let i = 0; i < layer.w.data.length; i++) { const d = layer.w.data[i] - t.w.data[i]; num += d * d; den += t.w.data[i] ** 2 }
    for (let i = 0; i < layer.b.length; i++) { const d = layer.b[i] - t.b[i]; num += d * d; den += t.b[i] ** 2 }
  })
  const tail = losses.slice(-lossWindow)
  const summary: SimulationSummary = {
    strategy: config.strategy,
    peers: P,
    code: codeSummary(baseScheme),
    steps: totalSteps,
    epochs: totalSteps / trainers[0].stepsPerEpoch,
    wallSeconds: (performance.now() - t0) / 1000,
    testAccuracy: testAccuracy(model, dataset),
    trainLoss: tail.length === 0 ? NaN : tail.reduce((s, x) => s + x, 0) / tail.length,
    faults: counters,
    rollbacks,
    repairs,
    timing: {
      computeS: tot.computeMs / P / 1000,
      encodeS: tot.encodeMs / P / 1000,
      decodeS: tot.decodeMs / P / 1000,
      waitS: tot.waitMs / P / 1000,
      stepMs: { median: quantile(stepMs, 0.5), p95: quantile(stepMs, 0.95) }
    },
    bytesSent: network.stats.bytesSent,
    model: [...config.model],
    batch: config.batch,
    seed: config.seed,
    errorRate: config.errorRate,
    errorKind: config.errorKind,
    errorModel: config.errorModel,
    dataset: dataset.name,
    attemptedSteps: attempted,
    completedSteps: trainers[0].currentStep,
    stalled,
    resyncs,
    groundTruth: { testAccuracy: testAccuracy(truthModel, dataset), weightRelativeError: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300) },
    network: { messages: network.stats.messages, dropped: network.stats.dropped, corrupted: network.stats.corrupted, delayed: network.stats.delayed }
  }
  return { summary, model, truth: truthModel, trainers }
}
