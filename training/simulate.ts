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
import { type Matrix, zeros } from '../codes/matrix.ts'
import { gemm } from '../codes/gemm/index.ts'
import type { CodeScheme, DecodeOptions, DecodeResult, Phase } from '../codes/scheme.ts'
import type { TrainingConfig } from './config.ts'
import type { Dataset } from './dataset.ts'
import { loadMnist } from './mnist.ts'
import { syntheticDataset } from './synthetic.ts'
import { createMemoryNetwork, type MemoryNetworkOptions } from './memory-exchange.ts'
import { createFaultInjector, type FaultSite, type ScheduledFault } from './faults.ts'
import { createPeerTrainer, StalledError, type DecodeObservation, type PeerTrainer, type StepReport, type UpdateObservation } from './peer.ts'
import { codeSummary, schemeForConfig } from './strategy.ts'
import { initModel, type Model } from './model.ts'
import { testAccuracy } from './evaluate.ts'
import { relativeDistance } from './recovery.ts'
import { roundKeyString } from './exchange.ts'
import { learningRate } from './schedule.ts'
import type { RunSummary } from './summary.ts'

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
  onProgress?: (p: Progress) => void
  /** Called after every simulated step with every peer's report. */
  onStep?: (reports: readonly StepReport[]) => void
  log?: (msg: string) => void
  /** Share one decode among peers that received the very same results (default true): a pure-function cache, it changes no outcome. */
  shareDecodes?: boolean
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

export function datasetForConfig (c: TrainingConfig): Dataset {
  return c.dataset === 'mnist'
    ? loadMnist()
    : syntheticDataset({ inputSize: c.model[0], classes: c.model[c.model.length - 1], seed: c.seed })
}

/**
 * Every peer decodes every round by itself; in one process those decodes are identical
 * computations whenever the peers hold the very same result objects. This wrapper
 * remembers the last decode per round and result set and hands peers the same answer
 * (each gets its own copy of the value). The scheme is pure, so no outcome changes.
 */
function sharingDecodes (scheme: CodeScheme): CodeScheme {
  const ids = new WeakMap<Matrix, number>()
  let next = 0
  const idOf = (m: Matrix): number => { let i = ids.get(m); if (i === undefined) { i = next++; ids.set(m, i) } return i }
  let cache = new Map<string, DecodeResult>()
  const decode = (phase: Phase, results: ReadonlyMap<number, Matrix>, opts?: DecodeOptions): DecodeResult => {
    const key = `${phase}|${opts?.mode ?? ''}|${[...results].sort((a, b) => a[0] - b[0]).map(([p, m]) => `${p}:${idOf(m)}`).join(',')}`
    let r = cache.get(key)
    if (r === undefined) {
      r = scheme.decode(phase, results, opts)
      if (cache.size > 64) cache = new Map()
      cache.set(key, r)
    }
    return r.ok ? { ...r, value: { rows: r.value.rows, cols: r.value.cols, data: r.value.data.slice() }, used: [...r.used], faulty: [...r.faulty] } : { ...r, suspects: [...r.suspects] }
  }
  return new Proxy(scheme, {
    get (target, prop, receiver) {
      if (prop === 'decode') return decode
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}

interface Truth {
  w: Matrix[]
  b: Float64Array[]
  vw: Matrix[]
  vb: Float64Array[]
}

const cloneTruth = (t: Truth): Truth => ({
  w: t.w.map(m => ({ rows: m.rows, cols: m.cols, data: m.data.slice() })),
  b: t.b.map(x => x.slice()),
  vw: t.vw.map(m => ({ rows: m.rows, cols: m.cols, data: m.data.slice() })),
  vb: t.vb.map(x => x.slice())
})

/** The operand most peers hold (within 1e-9 relative): what the healthy peers agreed on. */
function consensus (ms: readonly Matrix[]): Matrix {
  // Usually every peer holds the same value: group against a few candidates, O(P·groups).
  const groups: Array<{ rep: Matrix, votes: number }> = []
  for (const a of ms) {
    const g = groups.find(c => c.rep.data === a.data || (c.rep.data.length === a.data.length && relativeDistance(a.data, c.rep.data) <= 1e-9))
    if (g !== undefined) g.votes++
    else groups.push({ rep: a, votes: 1 })
  }
  let best = groups[0]
  for (const g of groups) if (g.votes > best.votes) best = g
  return best.rep
}

function padTo (w: Matrix, rows: number, cols: number): Matrix {
  if (w.rows === rows && w.cols === cols) return w
  const out = zeros(rows, cols)
  for (let r = 0; r < w.rows; r++) out.data.set(w.data.subarray(r * w.cols, (r + 1) * w.cols), r * cols)
  return out
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]
}

export async function simulate (opts: SimulateOptions): Promise<SimulationResult> {
  const config = opts.config
  const P = config.peers
  const t0 = performance.now()
  const dataset = opts.dataset ?? datasetForConfig(config)
  const baseScheme = schemeForConfig(config)
  const scheme = opts.shareDecodes === false ? baseScheme : sharingDecodes(baseScheme)
  const network = createMemoryNetwork({ ...opts.network, peers: P, seed: config.seed })
  const faults = createFaultInjector({
    seed: config.seed,
    rate: config.errorRate,
    kind: config.errorKind,
    magnitude: config.errorMagnitude,
    model: config.errorModel,
    sites: opts.faultSites,
    peers: opts.faultPeers,
    schedule: opts.faultSchedule
  })

  // Observations of the step in flight.
  let decodes = new Map<string, { key: DecodeObservation['key'], obs: DecodeObservation[] }>()
  let updates: UpdateObservation[] = []
  const observer = {
    decoded: (o: DecodeObservation) => {
      const k = roundKeyString(o.key)
      let e = decodes.get(k)
      if (e === undefined) { e = { key: o.key, obs: [] }; decodes.set(k, e) }
      e.obs.push(o)
    },
    updated: (o: UpdateObservation) => { updates.push(o) }
  }
  const trainers = Array.from({ length: P }, (_, p) => createPeerTrainer({
    config, self: p, exchange: network.exchange(p), dataset, scheme, faults, observer, log: opts.log
  }))

  const init = initModel(config.model, config.activation, config.seed)
  let truth: Truth = {
    w: init.layers.map(l => l.w),
    b: init.layers.map(l => l.b),
    vw: init.layers.map(l => zeros(l.w.rows, l.w.cols)),
    vb: init.layers.map(l => new Float64Array(l.b.length))
  }
  let truthCheckpoint = cloneTruth(truth)
  const L = truth.w.length
  const counters: FaultCounters = { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, silent: 0 }
  let rollbacks = 0; let repairs = 0; let attempted = 0
  const stepMs: number[] = []
  const tot = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  const losses: number[] = []
  const totalSteps = trainers[0].totalSteps
  const lossWindow = Math.min(trainers[0].stepsPerEpoch, totalSteps)

  const truthProduct = (phase: string, layer: number, input: Matrix): Matrix =>
    phase === 'forward' ? gemm(truth.w[layer], input) : gemm(truth.w[layer], input, undefined, { transA: true })

  let stalled: string | null = null
  while (!trainers[0].done) {
    decodes = new Map(); updates = []
    let reports: StepReport[]
    try {
      reports = await Promise.all(trainers.map(t => t.step()))
    } catch (err) {
      if (!(err instanceof StalledError)) throw err
      // Every peer hit the same limit in the same round; they all hold the last checkpoint.
      stalled = err.message
      rollbacks++
      counters.injected = faults.injected
      break
    }
    attempted++
    const r0 = reports[0]
    if (reports.some(r => r.outcome !== r0.outcome || r.step !== r0.step)) {
      throw new SimulationError(`peers disagree about step ${r0.step}: ${reports.map(r => `${r.step}:${r.outcome}`).join(' ')}`)
    }
    const committed = r0.outcome === 'ok'
    // Detection counters, per round.
    for (const { obs } of decodes.values()) {
      const senders = new Set<number>()
      for (const o of obs) for (const f of o.flagged) if (f !== o.peer) senders.add(f)
      const failed = obs.some(o => o.value === null)
      counters.detected += senders.size + (failed ? 1 : 0)
      if (failed) counters.uncorrectable++
      else counters.corrected += senders.size
    }
    if (r0.outcome === 'rolled-back' && !reports.some(r => r.uncorrectable > 0)) counters.uncorrectable++ // an undecidable audit
    if (r0.audited && committed) {
      counters.detected += r0.repaired.length
      counters.corrected += r0.repaired.length
      repairs += r0.repaired.length
    }
    for (const r of reports) {
      tot.computeMs += r.timing.computeMs; tot.encodeMs += r.timing.encodeMs; tot.decodeMs += r.timing.decodeMs; tot.waitMs += r.timing.waitMs
    }
    stepMs.push(Math.max(...reports.map(r => r.timing.computeMs + r.timing.encodeMs + r.timing.decodeMs + r.timing.waitMs)))

    if (!committed) {
      rollbacks++
      truth = cloneTruth(truthCheckpoint)
    } else {
      // Silent errors: accepted decodes that differ from the exact product of the truth.
      for (const { key, obs } of decodes.values()) {
        const exact = truthProduct(key.phase, key.layer, consensus(obs.map(o => o.input)))
        if (obs.some(o => o.value !== null && relativeDistance(o.value.data, exact.data) > SILENT_TOLERANCE)) counters.silent++
      }
      // Move the truth with the agreed update operands.
      const lr = learningRate(config, r0.step, totalSteps)
      for (let l = 0; l < L; l++) {
        const ups = updates.filter(u => u.layer === l)
        const delta = consensus(ups.map(u => u.delta))
        const x = consensus(ups.map(u => u.x))
        const g = gemm(delta, x, undefined, { transB: true })
        const rs = new Float64Array(delta.rows)
        for (let r = 0; r < delta.rows; r++) for (let c = 0; c < delta.cols; c++) rs[r] += delta.data[r * delta.cols + c]
        const w = truth.w[l].data; const b = truth.b[l]
        if (config.momentum > 0) {
          const v = truth.vw[l].data; const vb = truth.vb[l]
          for (let i = 0; i < v.length; i++) { v[i] = config.momentum * v[i] + g.data[i]; w[i] -= lr * v[i] }
          for (let i = 0; i < b.length; i++) { vb[i] = config.momentum * vb[i] + rs[i]; b[i] -= lr * vb[i] }
        } else {
          for (let i = 0; i < w.length; i++) w[i] -= lr * g.data[i]
          for (let i = 0; i < b.length; i++) b[i] -= lr * rs[i]
        }
      }
      losses.push(r0.loss)
      if (r0.checkpointed !== null) {
        // A shard the audit passed must be the true weights' shard.
        for (let l = 0; l < L; l++) {
          const shard0 = trainers[0].shards()[l]
          const wp = padTo(truth.w[l], shard0.rows * baseScheme.m, shard0.cols * baseScheme.n)
          for (const t of trainers) {
            const want = baseScheme.encodeShard(wp, t.self)
            if (relativeDistance(t.shards()[l].data, want.data) > SILENT_TOLERANCE) counters.silent++
          }
        }
        truthCheckpoint = cloneTruth(truth)
      }
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
  const decoded = await Promise.all(trainers.map(t => t.decodedWeights()))
  repairs += selfRepairs() - repairedBefore // the final audit's repairs
  const model = decoded[0]
  const truthModel: Model = { activation: config.activation, layers: truth.w.map((w, l) => ({ w, b: truth.b[l] })) }
  let num = 0; let den = 0
  model.layers.forEach((layer, l) => {
    for (let i = 0; i < layer.w.data.length; i++) { const d = layer.w.data[i] - truth.w[l].data[i]; num += d * d; den += truth.w[l].data[i] ** 2 }
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
    groundTruth: { testAccuracy: testAccuracy(truthModel, dataset), weightRelativeError: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300) },
    network: { messages: network.stats.messages, dropped: network.stats.dropped, corrupted: network.stats.corrupted, delayed: network.stats.delayed }
  }
  return { summary, model, truth: truthModel, trainers }
}
