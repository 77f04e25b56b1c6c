/**
 * `codenet bench training`: the CPU a training step costs under each strategy — codenet (the
 * default code for P peers), replication and uncoded (the baseline) — on the same job, in
 * `simulate()` in this process (P peer trainers over the in-memory exchange, every peer decoding
 * by itself: `shareDecodes: false`, as on the testnet).
 *
 * Runs alternate, uncoded first, for R repeats (uncoded, codenet, replication, ground truth,
 * uncoded, …), so load on the machine falls on all; every figure is the median over the repeats,
 * every ratio the median of the ratios within a repeat (runs next to each other in time). A short
 * unmeasured run of each strategy first (WARMUP_STEPS) warms the JIT, so the first repeat's
 * baseline is not the one that pays for compiling the trainer.
 *
 * What one run's figures are:
 *   window     process CPU (`process.cpuUsage()`) and wall time from the end of the run's first
 *              step to the end of its last (simulate's `onStep`), over the steps computed in
 *              between. The run's fixed costs are left out: building the trainers and encoding
 *              the shards, the final decode of the model by every peer, and the two test-set
 *              evaluations simulate makes at the end (decoded model and truth) — the same for
 *              every strategy, they would pull the ratios towards 1 (the whole run's CPU and wall
 *              time are in the JSON too)
 *   truth      simulate also moves a ground truth (one uncoded trainer on the same batches) that
 *              no peer runs. As in `bench step` (step.ts), it is timed alone over the same number
 *              of steps — here once per repeat, as a run of its own in the alternation — and its
 *              CPU and wall time per step are subtracted from every run of that repeat
 *   all peers  the P peers' CPU per step; per peer = all peers / P; wall per step likewise
 *
 * Ratios against uncoded, beside what the code predicts (from the scheme objects of codes/, via
 * the trainer's own padded geometry): a peer's GEMM share g = its shard's part of each layer's
 * GEMMs (forward, backward for l ≥ 1, update), weighted by their sizes — 1/(m·n) for PolyDot, r/P
 * for replication r, 1/P uncoded (up to padding);
 *   all peers / uncoded   predicted g / g_uncoded (the P peers' GEMM work against uncoded's)
 *   peer / uncoded        one peer's CPU per step over the uncoded job's (all peers): predicted
 *                         g / (P · g_uncoded), i.e. 1/(m·n) of the job for codenet
 * Only the GEMMs shrink with the shard: every peer still decodes whole products, applies the
 * nonlinearities and the loss to the whole batch, and encodes its inputs, so measured ratios lie
 * above the GEMM prediction by that much.
 *
 * Correctness: at error rate 0 every strategy trains the same model. The largest |Δ| over every
 * weight and bias between each strategy's decoded model and uncoded's (and the simulator's truth)
 * is reported; codenet's or replication's further than WEIGHT_TOLERANCE from uncoded's means the
 * coded training is wrong (the command exits 1). With soft errors (--error-rate > 0) uncoded lets
 * them through by design, so the coded models are checked against the simulator's truth instead.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { median } from '../../codes/stats.ts'
import { zeros } from '../../codes/matrix.ts'
import type { CodeScheme } from '../../codes/scheme.ts'
import { ConfigError, STRATEGIES, trainingConfigFromFlags, type RawTrainingFlags, type Strategy, type TrainingConfig } from '../../training/config.ts'
import type { Model } from '../../training/model.ts'
import { exportWeights, weightsMaxAbsDiff } from '../../training/evaluate.ts'
import { createReferenceTrainer } from '../../training/reference.ts'
import { datasetForConfig, simulate, type SimulationSummary } from '../../training/simulate.ts'
import { schemeForConfig } from '../../training/strategy.ts'
import { geometryOf } from '../../training/trainer/state.ts'
import { UsageError } from '../cli.ts'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { strategyFacts } from './paper.ts'
import { cpuSince } from './step.ts'

/** The default recipe's model, batch and learning rate, for 60 steps, no soft errors. */
export const TRAINING_DEFAULT_FLAGS: Readonly<Record<string, string>> = { steps: '60', 'error-rate': '0' }
/** --quick: a small synthetic job (structure only, not the official figure). */
export const TRAINING_QUICK_FLAGS: Readonly<Record<string, string>> = { dataset: 'synthetic', model: '128-64-10', batch: '16', steps: '20', 'error-rate': '0' }
export const TRAINING_DEFAULT_REPEATS = 5
export const TRAINING_QUICK_REPEATS = 2
export const TRAINING_DEFAULT_PEERS = 6
/** A coded strategy's decoded model further than this (max |Δ| of any weight or bias) from its reference: the coded training is wrong. */
export const WEIGHT_TOLERANCE = 1e-6
/** Steps of the unmeasured warm-up run of each strategy. */
export const WARMUP_STEPS = 20
/** The order of a repeat: the baseline first. */
export const TRAINING_ORDER: readonly Strategy[] = ['uncoded', 'codenet', 'replication']

export interface TrainingBenchOptions {
  out: NodeJS.WritableStream
  json?: string
  quick?: boolean
  /** P (default 6). */
  peers?: number
  /** Repeats R (default 5; quick 2). */
  repeats?: number
  /** Which strategies (uncoded must be one: the baseline); default all three. */
  strategies?: readonly Strategy[]
  /** Training flags (as `codenet simulate` takes them, without dashes) over the defaults; not `peers` nor `strategy`. */
  flags?: Readonly<Record<string, string>>
  /** Max |Δ| of the weight check (default WEIGHT_TOLERANCE; tests). */
  tolerance?: number
}

/** One simulate run of one strategy, in one repeat. */
export interface TrainingRun {
  repeat: number
  /** Steps computed inside the window (all but the first). */
  steps: number
  /** Window CPU per step, ground truth included. */
  cpuPerStepWithTruthMs: number
  /** Window CPU per step − the repeat's ground truth per step: all P peers. */
  cpuPerStepMs: number
  /** Window wall per step − the ground truth's. */
  wallPerStepMs: number
  /** The whole simulate() call (set-up, final decode and evaluations included). */
  wholeRun: { cpuMs: number, wallMs: number, attemptedSteps: number }
}

export interface TrainingBenchRow {
  strategy: Strategy
  code: string
  m: number
  n: number
  /** The fraction of each layer a peer stores (paper.ts storagePerPeer). */
  storagePerPeer: number
  /** A peer's share of the job's GEMM work per step (its padded shards against the whole layers). */
  gemmSharePerPeer: number
  /** Medians over the repeats. */
  cpuPerStepMs: number
  perPeerCpuMs: number
  wallPerStepMs: number
  /** Medians over the repeats of the ratios within a repeat; 1 and 1/P-ish for uncoded itself. */
  ratio: { allPeers: number, perPeer: number }
  predicted: { allPeers: number, perPeer: number }
  /** A peer's CPU per step over the ground truth's (one trainer doing the whole job alone), median over repeats; predicted: gemmSharePerPeer. */
  perPeerOverAlone: number
  trainLoss: number
  testAccuracy: number
  attemptedSteps: number
  rollbacks: number
  silent: number
  stalled: string | null
  /** Largest |Δ| of any weight or bias (max over the repeats); null for uncoded against itself. */
  maxWeightDistance: { uncoded: number | null, truth: number }
  runs: TrainingRun[]
}

export interface TrainingBenchResult extends MachineInfo {
  benchmark: 'training'
  quick: boolean
  /** The training flags every run had (peers and strategy aside). */
  flags: Record<string, string>
  peers: number
  model: number[]
  dataset: string
  batch: number
  lr: number
  errorRate: number
  repeats: number
  /** The order of one repeat ('truth': the ground truth timed alone). */
  order: Array<Strategy | 'truth'>
  /** The ground truth alone, per step (median over the repeats): subtracted from every run. */
  groundTruth: { cpuPerStepMs: number, wallPerStepMs: number, runs: Array<{ repeat: number, steps: number, cpuPerStepMs: number, wallPerStepMs: number }> }
  rows: TrainingBenchRow[]
  weightCheck: { tolerance: number, against: 'uncoded' | 'truth', pass: boolean, failures: string[] }
  pass: boolean
}

/** A peer's share of one step's GEMM work: Σ_l k_l·|shard_l| / Σ_l k_l·|W_l| (k = 2 for the first layer, no backward product; 3 otherwise). */
export function gemmSharePerPeer (config: TrainingConfig, scheme: CodeScheme): number {
  const geo = geometryOf(config, scheme)
  let peer = 0; let whole = 0
  geo.shapes.forEach((s, l) => {
    const k = l === 0 ? 2 : 3
    const shard = scheme.encodeShard(zeros(geo.padded[l].rows, geo.padded[l].cols), 0)
    peer += k * shard.rows * shard.cols
    whole += k * s.rows * s.cols
  })
  return peer / whole
}

/** max |a − b| over every weight and bias of two models of one shape; a non-finite value is infinitely far. */
export function maxWeightDistance (a: Model, b: Model): number {
  return weightsMaxAbsDiff(exportWeights(a), exportWeights(b))
}

interface Measured {
  summary: SimulationSummary
  model: Model
  truth: Model
  steps: number
  cpuMs: number
  wallMs: number
  whole: { cpuMs: number, wallMs: number }
}

/** One simulate run, timed over its steps after the first. */
async function measureRun (config: TrainingConfig, dataset: ReturnType<typeof datasetForConfig>): Promise<Measured> {
  let first: { cpu: NodeJS.CpuUsage, t: number } | null = null
  let last = { cpuMs: 0, t: 0 }
  let steps = 0
  const c0 = process.cpuUsage(); const t0 = performance.now()
  const res = await simulate({
    config,
    dataset,
    shareDecodes: false,
    onStep: (reports) => {
      if (first === null) { first = { cpu: process.cpuUsage(), t: performance.now() }; return }
      if (reports.some(r => r.computed)) steps++
      last = { cpuMs: cpuSince(first.cpu), t: performance.now() }
    }
  })
  const whole = { cpuMs: cpuSince(c0), wallMs: performance.now() - t0 }
  const start = first as { cpu: NodeJS.CpuUsage, t: number } | null
  return {
    summary: res.summary,
    model: res.model,
    truth: res.truth,
    steps,
    cpuMs: last.cpuMs,
    wallMs: start === null ? 0 : last.t - start.t,
    whole
  }
}

/** The ground truth alone: a reference trainer over `steps` steps (with the product copies simulate makes). */
function measureTruth (config: TrainingConfig, dataset: ReturnType<typeof datasetForConfig>, steps: number): { cpuMs: number, wallMs: number } {
  const reference = createReferenceTrainer(config, dataset)
  reference.step(0, { forward: [], backward: [] }) // as in a run's window, which starts after the first step
  const c = process.cpuUsage(); const t = performance.now()
  for (let s = 1; s <= steps; s++) reference.step(s, { forward: [], backward: [] })
  return { cpuMs: cpuSince(c), wallMs: performance.now() - t }
}

export async function runTrainingBench (opts: TrainingBenchOptions): Promise<TrainingBenchResult> {
  const out = opts.out
  const quick = opts.quick === true
  if (opts.flags?.peers !== undefined) throw new UsageError('bench training: give the number of peers with --peers P')
  if (opts.flags?.strategy !== undefined) throw new UsageError('bench training: give the strategies with --strategy a,b (uncoded among them)')
  const P = opts.peers ?? TRAINING_DEFAULT_PEERS
  const repeats = opts.repeats ?? (quick ? TRAINING_QUICK_REPEATS : TRAINING_DEFAULT_REPEATS)
  if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError(`--repeats must be a positive integer, got ${repeats}`)
  const wanted = opts.strategies ?? STRATEGIES
  if (!wanted.includes('uncoded')) throw new UsageError('bench training: --strategy must include uncoded (the baseline)')
  const order = TRAINING_ORDER.filter(s => wanted.includes(s))
  const flags: Record<string, string> = { ...(quick ? TRAINING_QUICK_FLAGS : TRAINING_DEFAULT_FLAGS), ...opts.flags }
  // --epochs replaces the default --steps.
  if (opts.flags?.epochs !== undefined && opts.flags.steps === undefined) delete flags.steps
  // Every config is checked before anything runs: a bad flag is one line (ConfigError, exit 2).
  const configs = new Map(order.map(s => {
    try {
      return [s, trainingConfigFromFlags({ ...flags, peers: String(P), strategy: s } as RawTrainingFlags)]
    } catch (err) {
      // P not a multiple of --replicas: say how to run the bench anyway.
      if (err instanceof ConfigError && s === 'replication' && /--replicas/.test(err.message)) {
        throw new ConfigError(`${err.message}; give --replicas R, or leave replication out with --strategy uncoded,codenet`)
      }
      throw err
    }
  }))
  const base = configs.get('uncoded') as TrainingConfig
  const schemes = new Map(order.map(s => [s, schemeForConfig(configs.get(s) as TrainingConfig)]))
  const share = new Map(order.map(s => [s, gemmSharePerPeer(configs.get(s) as TrainingConfig, schemes.get(s) as CodeScheme)]))
  const facts = new Map(order.map(s => [s, strategyFacts(configs.get(s) as TrainingConfig)]))
  const started = performance.now()
  const loadStart = loadavg()[0]
  out.write(`codenet bench training: P = ${P}, ${order.map(s => facts.get(s)?.code).join(' / ')}; ${Object.entries(flags).map(([k, v]) => `--${k} ${v}`).join(' ')}; ${repeats} repeat${repeats === 1 ? '' : 's'}${quick ? ' (quick)' : ''}; load average ${loadStart.toFixed(2)}\n`)
  // The data outside the measurement (the same for every strategy).
  const dataset = datasetForConfig(base)

  const runs = new Map<Strategy, TrainingRun[]>(order.map(s => [s, []]))
  const last = new Map<Strategy, SimulationSummary>()
  const distance = new Map<Strategy, { uncoded: number, truth: number }>()
  const truthRuns: TrainingBenchResult['groundTruth']['runs'] = []
  const ratios = new Map<Strategy, { allPeers: number[], perPeer: number[], alone: number[] }>(order.map(s => [s, { allPeers: [], perPeer: [], alone: [] }]))
  for (const s of order) {
    const c = configs.get(s) as TrainingConfig
    await simulate({ config: { ...c, epochs: null, steps: Math.min(WARMUP_STEPS, c.steps ?? WARMUP_STEPS) }, dataset, shareDecodes: false })
  }
  for (let rep = 1; rep <= repeats; rep++) {
    const measured = new Map<Strategy, Measured>()
    for (const s of order) measured.set(s, await measureRun(configs.get(s) as TrainingConfig, dataset))
    const steps = Math.max(1, median(order.map(s => (measured.get(s) as Measured).steps)))
    const truth = measureTruth(base, dataset, steps)
    const truthCpu = truth.cpuMs / steps; const truthWall = truth.wallMs / steps
    truthRuns.push({ repeat: rep, steps, cpuPerStepMs: truthCpu, wallPerStepMs: truthWall })
    const uncoded = measured.get('uncoded') as Measured
    const line: string[] = []
    let uncodedCpu = NaN
    for (const s of order) {
      const m = measured.get(s) as Measured
      const n = Math.max(1, m.steps)
      const run: TrainingRun = {
        repeat: rep,
        steps: m.steps,
        cpuPerStepWithTruthMs: m.cpuMs / n,
        cpuPerStepMs: Math.max(0, m.cpuMs / n - truthCpu),
        wallPerStepMs: Math.max(0, m.wallMs / n - truthWall),
        wholeRun: { cpuMs: m.whole.cpuMs, wallMs: m.whole.wallMs, attemptedSteps: m.summary.attemptedSteps }
      }
      runs.get(s)?.push(run)
      if (s === 'uncoded') uncodedCpu = run.cpuPerStepMs
      ratios.get(s)?.allPeers.push(run.cpuPerStepMs / uncodedCpu)
      ratios.get(s)?.perPeer.push(run.cpuPerStepMs / P / uncodedCpu)
      ratios.get(s)?.alone.push(run.cpuPerStepMs / P / truthCpu)
      last.set(s, m.summary)
      const d = { uncoded: maxWeightDistance(m.model, uncoded.model), truth: maxWeightDistance(m.model, m.truth) }
      const prev = distance.get(s)
      distance.set(s, prev === undefined ? d : { uncoded: Math.max(prev.uncoded, d.uncoded), truth: Math.max(prev.truth, d.truth) })
      line.push(`${s} ${run.cpuPerStepMs.toFixed(1)}`)
    }
    out.write(`  repeat ${rep}/${repeats}: ms CPU/step, all peers: ${line.join(', ')}; ground truth ${truthCpu.toFixed(1)} (subtracted); load ${loadavg()[0].toFixed(2)}\n`)
  }

  const g0 = share.get('uncoded') as number
  const rows: TrainingBenchRow[] = order.map(s => {
    const rs = runs.get(s) as TrainingRun[]
    const sum = last.get(s) as SimulationSummary
    const scheme = schemes.get(s) as CodeScheme
    const fact = facts.get(s) as ReturnType<typeof strategyFacts>
    const g = share.get(s) as number
    const cpu = median(rs.map(r => r.cpuPerStepMs))
    const d = distance.get(s) as { uncoded: number, truth: number }
    return {
      strategy: s,
      code: fact.code,
      m: scheme.m,
      n: scheme.n,
      storagePerPeer: fact.storagePerPeer,
      gemmSharePerPeer: g,
      cpuPerStepMs: cpu,
      perPeerCpuMs: cpu / P,
      wallPerStepMs: median(rs.map(r => r.wallPerStepMs)),
      ratio: { allPeers: median(ratios.get(s)?.allPeers ?? []), perPeer: median(ratios.get(s)?.perPeer ?? []) },
      predicted: { allPeers: g / g0, perPeer: g / (P * g0) },
      perPeerOverAlone: median(ratios.get(s)?.alone ?? []),
      trainLoss: sum.trainLoss,
      testAccuracy: sum.testAccuracy,
      attemptedSteps: sum.attemptedSteps,
      rollbacks: sum.rollbacks,
      silent: sum.faults.silent,
      stalled: sum.stalled,
      maxWeightDistance: { uncoded: s === 'uncoded' ? null : d.uncoded, truth: d.truth },
      runs: rs
    }
  })
  const against = base.errorRate === 0 ? 'uncoded' : 'truth'
  const tolerance = opts.tolerance ?? WEIGHT_TOLERANCE
  const failures: string[] = []
  for (const r of rows) {
    if (r.strategy === 'uncoded') continue
    const d = against === 'uncoded' ? r.maxWeightDistance.uncoded as number : r.maxWeightDistance.truth
    if (!(d <= tolerance)) {
      failures.push(`${r.strategy}'s decoded model is ${d.toExponential(2)} from ${against === 'uncoded' ? "uncoded's" : "the simulator's ground truth"} (max |Δ| of a weight or bias; tolerance ${tolerance.toExponential(0)})${r.stalled !== null ? `; the run stalled: ${r.stalled}` : ''}: the coded training is wrong`)
    }
  }
  const result: TrainingBenchResult = {
    benchmark: 'training',
    quick,
    flags,
    peers: P,
    model: [...base.model],
    dataset: base.dataset,
    batch: base.batch,
    lr: base.lr,
    errorRate: base.errorRate,
    repeats,
    order: [...order, 'truth'],
    groundTruth: { cpuPerStepMs: median(truthRuns.map(t => t.cpuPerStepMs)), wallPerStepMs: median(truthRuns.map(t => t.wallPerStepMs)), runs: truthRuns },
    rows,
    weightCheck: { tolerance, against, pass: failures.length === 0, failures },
    pass: failures.length === 0,
    ...machineInfo(loadStart, started)
  }
  out.write(formatTrainingTable(result))
  if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`)
  return result
}

const f = (x: number | null | undefined, digits = 1): string => x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits)
const e = (x: number | null): string => x === null ? '-' : x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(1) : 'inf'

/** The human-readable table of a result. */
export function formatTrainingTable (res: TrainingBenchResult): string {
  const header = ['strategy', 'code', 'GEMM/peer', 'CPU ms/step', 'per peer', 'wall ms/step', 'all/uncoded', 'predicted', 'peer/uncoded', 'predicted', 'train loss', 'test acc %', 'max|ΔW| uncoded', 'truth']
  const table = res.rows.map(r => [
    r.strategy, r.code, f(r.gemmSharePerPeer, 3), f(r.cpuPerStepMs), f(r.perPeerCpuMs, 2), f(r.wallPerStepMs),
    f(r.ratio.allPeers, 2), f(r.predicted.allPeers, 2), f(r.ratio.perPeer, 3), f(r.predicted.perPeer, 3),
    f(r.trainLoss, 4), f(100 * r.testAccuracy, 2), e(r.maxWeightDistance.uncoded), e(r.maxWeightDistance.truth)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map(row => row[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c <= 1 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ').trimEnd()
  const lines = [
    '',
    `CPU per training step by strategy, ${res.model.join('-')} on ${res.dataset}, batch ${res.batch}, P = ${res.peers}, error rate ${res.errorRate}: simulate, every peer decoding by itself; medians of ${res.repeats} alternating repeat${res.repeats === 1 ? '' : 's'}`,
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...table.map(line),
    '',
    `CPU ms/step: process CPU of all ${res.peers} peers per step, from the end of each run's first step to its last (set-up, final decode and evaluation left out), the ground truth simulate carries (${f(res.groundTruth.cpuPerStepMs)} ms/step, timed alone in each repeat) subtracted; per peer = CPU / ${res.peers}; wall ms/step likewise (one process: the peers take turns)`,
    `GEMM/peer: a peer's share of each step's GEMM work (its padded shards, from the scheme); all/uncoded: CPU of all peers over uncoded's, predicted by the GEMM shares; peer/uncoded: one peer's CPU over uncoded's whole job (all peers), predicted GEMM/peer over uncoded's ${res.peers} shares`,
    `a peer's CPU per step over one trainer doing the whole job alone (the ground truth): ${res.rows.map(r => `${r.strategy} ${f(r.perPeerOverAlone, 2)} (GEMM/peer ${f(r.gemmSharePerPeer, 3)})`).join(', ')}`,
    `max|ΔW|: largest difference of any weight or bias of the decoded model from uncoded's and from the simulator's ground truth (max over repeats); train loss, test accuracy: the run's final`,
    res.weightCheck.pass
      ? `weights: ${res.rows.filter(r => r.strategy !== 'uncoded').map(r => r.strategy).join(' and ') || 'no coded strategy'} within ${res.weightCheck.tolerance.toExponential(0)} of ${res.weightCheck.against === 'uncoded' ? "uncoded's model" : 'the ground truth (error rate > 0: uncoded lets errors through)'}: PASS`
      : `weights: FAIL — ${res.weightCheck.failures.join('; ')}`,
    machineLine(res)
  ]
  return lines.join('\n') + '\n'
}
