/**
 * `codenet bench paper`: CodeNet's claim on real peers — the accuracy–runtime trade-off of
 * coded training against replication (the same storage per peer) and uncoded training, on the
 * local testnet, at several soft-error rates.
 *
 * Every case is one `codenet testnet` run (testnet-run.ts: the CLI in a child process, its own
 * state folder) and one `simulate` of the very job it trained, in this process: the real peers
 * cannot know whether they accepted something wrong; the simulator, which keeps the truth, can
 * ('silent'), and its rollback count is the one the testnet should match (the same fault draws).
 * Runs are one after the other, never side by side, so wall times are comparable.
 *
 * Time to accuracy: the first moment the run's model was within ACCURACY_SLACK of the clean
 * run's final accuracy — the launcher's scored checkpoints (trace.accuracy, mapped to the moment
 * the network passed that step) or, failing that, the end of the run with its final accuracy.
 */
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir, loadavg } from 'node:os'
import { zeros } from '../../codes/matrix.ts'
import { type CodeScheme, worstCorrectable } from '../../codes/scheme.ts'
import type { Strategy, TrainingConfig } from '../../training/config.ts'
import type { ErrorKind } from '../../training/soft-errors.ts'
import { schemeForConfig } from '../../training/strategy.ts'
import type { TestnetSummary, TestnetTrace } from '../snapshot.ts'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { BenchRunError, runTestnet } from './testnet-run.ts'
import { formatToleranceTable, runToleranceTable, TOLERANCE_PEERS, type ToleranceRow } from './tolerance.ts'
import { bestInterval, calibrate, cleanAudits, expectedStepSeconds, faultRates, predictSeconds, type StepCosts } from './paper-model.ts'

/** One soft-error setting of the grid. */
export interface PaperCase { kind: ErrorKind, rate: number }

/** The issue's grid: gaussian at 0, 1e-3, 1e-2, 5e-2, and bit flips at 1e-2. */
export const PAPER_CASES: readonly PaperCase[] = [
  { kind: 'gaussian', rate: 0 }, { kind: 'gaussian', rate: 1e-3 }, { kind: 'gaussian', rate: 1e-2 }, { kind: 'gaussian', rate: 5e-2 }, { kind: 'bitflip', rate: 1e-2 }
]
export const QUICK_CASES: readonly PaperCase[] = [{ kind: 'gaussian', rate: 0 }, { kind: 'gaussian', rate: 1e-2 }]
export const PAPER_STRATEGIES: readonly Strategy[] = ['codenet', 'replication', 'uncoded']
/** Within this much of the clean run's accuracy counts as reached: 0.1 percentage points, 2 of the 2,004 MNIST test digits. */
export const ACCURACY_SLACK = 0.001
const QUICK_STEPS = 60
/** The clean calibration run's checkpoint interval (an audit every 5 steps: their cost shows). */
export const CALIBRATION_INTERVAL = 5

export interface PaperBenchOptions {
  out: NodeJS.WritableStream
  json?: string
  quick: boolean
  /** Write paper-gaussian.svg and paper-bitflip.svg here. */
  svgDir?: string
  strategies?: readonly Strategy[]
  cases?: readonly PaperCase[]
  peers?: number
  seed?: number
  /** Steps of every run (default: the recipe's whole run; --quick: 60). */
  steps?: number
  /** Give up on one testnet run after this long (it is recorded as failed). */
  runTimeoutMs?: number
  /** Stop a testnet run whose furthest step has not moved for this long (recorded as 'no progress'). Default NO_PROGRESS_MS. */
  stallMs?: number
}

/**
 * A run whose network has not passed its furthest step for this long is stopped and recorded as
 * making no progress: longer than any stretch of rollbacks and replays a finishing run showed in
 * the grid (codenet at 5e-2 passes a new step every few seconds), far shorter than the
 * network's own stall limit when every round waits out its timeout.
 */
export const NO_PROGRESS_MS = 180_000

/** What a strategy is, at equal storage: the fraction of every layer a peer holds, and what a round tolerates. */
export interface StrategyFacts {
  strategy: Strategy
  code: string
  storagePerPeer: number
  /** P × storage: copies of the model the network holds. */
  redundancy: number
  /** Wrong results per round it corrects (worst case over phases and over which results arrive; all P in). */
  tolerates: { adversarial: number, probabilistic: number }
}

export interface PaperRun {
  strategy: Strategy
  kind: ErrorKind
  rate: number
  testnet: {
    ok: boolean
    error: string | null
    wallSeconds: number
    steps: number
    testAccuracy: number | null
    rollbacks: number | null
    repairs: number | null
    faults: { injected: number, detected: number, corrected: number, uncorrectable: number } | null
    bytesPerStep: number | null
    /** Seconds to within ACCURACY_SLACK of the clean run's accuracy; null: never. */
    timeToCleanS: number | null
    /** Stopped by the bench: the furthest step had not moved for `seconds` (NO_PROGRESS_MS). */
    noProgress?: { step: number, seconds: number } | null
    trace: TestnetTrace | null
  }
  simulate: { testAccuracy: number, rollbacks: number, repairs: number, silent: number, uncorrectable: number, completedSteps: number, attemptedSteps: number, audits: number, meanStepsLost: number | null, stalled: string | null, wallSeconds: number } | null
  /** The expected-time model (paper-model.ts) on this run: null without calibration or simulate. */
  model: { p: number, phi: number, predictedS: number, bestInterval: number, stepSecondsAtBest: number, stepSecondsAtDefault: number } | null
}

export interface PaperBenchResult extends MachineInfo {
  quick: boolean
  peers: number
  seed: number
  config: Pick<TrainingConfig, 'model' | 'batch' | 'lr' | 'epochs' | 'checkpointEvery'> & { steps: number }
  strategies: StrategyFacts[]
  /** The clean (ε = 0) accuracy each strategy's runs are timed against. */
  cleanAccuracy: Partial<Record<Strategy, number>>
  /** Step costs of each strategy, from its clean run and a clean run with checkpoint interval CALIBRATION_INTERVAL. */
  costs: Partial<Record<Strategy, StepCosts & { calibrationWallS: number }>>
  runs: PaperRun[]
  /** Wrong results per round corrected at equal storage, growing with P (simulate, tolerance.ts). */
  tolerance: ToleranceRow[]
  svg: string[]
}

/** The fraction of a layer peer 0 stores, measured on a shard of a matrix every code divides. */
export function storagePerPeer (scheme: CodeScheme): number {
  const side = 2 * 3 * 4 * 5 * 7 * scheme.m * scheme.n
  const shard = scheme.encodeShard(zeros(side, side), 0)
  return shard.rows * shard.cols / (side * side)
}

export function strategyFacts (config: TrainingConfig): StrategyFacts {
  const scheme = schemeForConfig(config)
  const storage = storagePerPeer(scheme)
  return {
    strategy: config.strategy,
    code: scheme.kind === 'polydot' ? `polydot m=${scheme.m} n=${scheme.n}` : scheme.kind === 'replication' ? `replication r=${config.replicas}` : 'uncoded',
    storagePerPeer: storage,
    redundancy: storage * scheme.peers,
    tolerates: worstCorrectable(scheme, scheme.peers)
  }
}

/** The first time (s) the network was past `step`, from the polled step series; null if never seen. */
function timeAtStep (trace: TestnetTrace, step: number): number | null {
  const p = trace.steps.find(q => q.step > step)
  return p === undefined ? null : p.t / 1000
}

/** Seconds per step in the middle of a run (10 % to 90 % of its steps), from the polled steps; null if too few polls. */
export function secondsPerStep (trace: TestnetTrace, steps: number): number | null {
  const first = trace.steps.find(q => q.step >= Math.floor(0.1 * steps))
  const last = trace.steps.find(q => q.step >= Math.ceil(0.9 * steps))
  if (first === undefined || last === undefined || last.t <= first.t || last.step <= first.step) return null
  return (last.t - first.t) / 1000 / (last.step - first.step)
}

/**
 * Seconds until the run's model was within ACCURACY_SLACK of `target`: the first scored
 * checkpoint that was (at the moment the network passed its step), else the end of the run if
 * its final accuracy was; null when it never was.
 */
export function timeToAccuracy (trace: TestnetTrace | null, finalAccuracy: number | null, wallSeconds: number, target: number): number | null {
  const ok = (a: number): boolean => a >= target - ACCURACY_SLACK
  if (trace !== null) {
    for (const a of [...trace.accuracy].sort((x, y) => x.t - y.t)) {
      if (ok(a.testAccuracy)) return Math.min(timeAtStep(trace, a.step) ?? a.t / 1000, a.t / 1000)
    }
  }
  return finalAccuracy !== null && ok(finalAccuracy) ? wallSeconds : null
}

/** ε as the tables and plots print it: 0, 1e-3, 5e-2. */
export const fmtRate = (r: number): string => r === 0 ? '0' : r.toExponential(0)

export async function runPaperBench (opts: PaperBenchOptions): Promise<PaperBenchResult> {
  const started = performance.now(); const loadStart = loadavg()[0]
  const { trainingConfigFromFlags } = await import('../../training/config.ts')
  const { simulate } = await import('../../training/simulate.ts')
  const strategies = opts.strategies ?? PAPER_STRATEGIES
  const cases = opts.cases ?? (opts.quick ? QUICK_CASES : PAPER_CASES)
  const peers = opts.peers ?? 6
  const seed = opts.seed ?? 1
  const steps = opts.steps ?? (opts.quick ? QUICK_STEPS : undefined)
  const timeoutMs = opts.runTimeoutMs ?? (opts.quick ? 5 : 40) * 60_000
  const stallMs = opts.stallMs ?? NO_PROGRESS_MS
  const base: Record<string, string> = { peers: String(peers), seed: String(seed), ...(steps !== undefined ? { steps: String(steps) } : {}) }
  const configOf = (strategy: Strategy, c: PaperCase): TrainingConfig =>
    trainingConfigFromFlags({ ...base, strategy, 'error-rate': String(c.rate), 'error-kind': c.kind })
  const first = configOf('codenet', cases[0])
  const runs: PaperRun[] = []
  const cleanAccuracy: Partial<Record<Strategy, number>> = {}
  const costs: PaperBenchResult['costs'] = {}
  const log = (s: string): void => { opts.out.write(`${s}\n`) }
  log(`bench paper: ${strategies.length} strategies × ${cases.length} error settings on a ${peers}-peer local testnet, ${first.model.join('-')}, batch ${first.batch}, ${steps !== undefined ? `${steps} steps` : `${first.epochs ?? '?'} epochs`}, seed ${seed}; one run at a time`)
  // Clean runs first: they set each strategy's target.
  const ordered = [...cases].sort((a, b) => (a.rate === 0 ? 0 : 1) - (b.rate === 0 ? 0 : 1))
  for (const c of ordered) {
    for (const strategy of strategies) {
      const config = configOf(strategy, c)
      const dir = mkdtempSync(join(tmpdir(), 'codenet-paper-'))
      const flags = { ...base, strategy, 'error-rate': String(c.rate), 'error-kind': c.kind }
      const run: PaperRun = { strategy, kind: c.kind, rate: c.rate, testnet: { ok: false, error: null, wallSeconds: 0, steps: 0, testAccuracy: null, rollbacks: null, repairs: null, faults: null, bytesPerStep: null, timeToCleanS: null, trace: null }, simulate: null, model: null }
      const t0 = performance.now()
      try {
        const r = await runTestnet({ flags, dir, timeoutMs, stallMs })
        const s = r.summary as TestnetSummary & { trace?: TestnetTrace }
        run.testnet = {
          ok: true,
          error: null,
          wallSeconds: s.wallSeconds,
          steps: s.steps,
          testAccuracy: s.testAccuracy,
          rollbacks: s.rollbacks,
          repairs: s.repairs,
          faults: { injected: s.faults.injected, detected: s.faults.detected, corrected: s.faults.corrected, uncorrectable: s.faults.uncorrectable },
          bytesPerStep: s.steps > 0 ? s.bytesSent / s.steps : null,
          timeToCleanS: null,
          trace: s.trace ?? null
        }
      } catch (err) {
        if (!(err instanceof BenchRunError)) throw err
        run.testnet.error = err.message.split('\n')[0].slice(0, 400)
        run.testnet.wallSeconds = (performance.now() - t0) / 1000
        run.testnet.trace = err.trace
        if (err.trace !== null) run.testnet.steps = Math.max(0, ...err.trace.steps.map(p => p.step))
        if (err.noProgress) run.testnet.noProgress = { step: run.testnet.steps, seconds: stallMs / 1000 }
      }
      // The job the testnet trained, in simulate: silent acceptances and the truth.
      let job: TrainingConfig = config
      try { job = (JSON.parse(readFileSync(join(dir, 'job.json'), 'utf8')) as { config: TrainingConfig }).config } catch {}
      rmSync(dir, { recursive: true, force: true })
      try {
        // Peer 0's reports: the audits it took part in, and how far each rollback went back.
        let audits = 0; let lost = 0; let rolled = 0
        const sim = await simulate({
          config: job,
          onStep: reps => {
            const r0 = reps[0]
            if (r0 === undefined) return
            if (r0.audited) audits++
            if (r0.outcome === 'rolled-back' && r0.rolledBackTo !== null && r0.decided !== null) { lost += r0.decided - r0.rolledBackTo; rolled++ }
          }
        })
        const sm = sim.summary
        run.simulate = { testAccuracy: sm.testAccuracy, rollbacks: sm.rollbacks, repairs: sm.repairs, silent: sm.faults.silent ?? 0, uncorrectable: sm.faults.uncorrectable, completedSteps: sm.completedSteps, attemptedSteps: sm.attemptedSteps, audits, meanStepsLost: rolled > 0 ? lost / rolled : null, stalled: sm.stalled, wallSeconds: sm.wallSeconds }
      } catch (err) {
        run.simulate = null
        run.testnet.error ??= `simulate: ${(err as Error).message}`
      }
      if (c.rate === 0 && run.testnet.testAccuracy !== null) cleanAccuracy[strategy] = run.testnet.testAccuracy
      if (c.rate === 0 && run.testnet.ok && run.testnet.trace !== null) {
        // Calibration: the same clean job with an audit every CALIBRATION_INTERVAL steps.
        const calDir = mkdtempSync(join(tmpdir(), 'codenet-paper-'))
        try {
          const cal = await runTestnet({ flags: { ...flags, 'checkpoint-every': String(CALIBRATION_INTERVAL) }, dir: calDir, timeoutMs })
          const S = run.testnet.steps
          const perStep = secondsPerStep(run.testnet.trace, S)
          if (perStep !== null) {
            const k = calibrate({ wallS: run.testnet.wallSeconds, steps: S, audits: cleanAudits(S, config.checkpointEvery), secondsPerStep: perStep, interval: config.checkpointEvery }, { wallS: cal.summary.wallSeconds, audits: cleanAudits(S, CALIBRATION_INTERVAL) })
            costs[strategy] = { ...k, calibrationWallS: cal.summary.wallSeconds }
            log(`  ${strategy} calibration (an audit every ${CALIBRATION_INTERVAL} steps): ${cal.summary.wallSeconds.toFixed(1)} s → a step ${(1000 * k.stepS).toFixed(1)} ms, an audit +${(1000 * k.auditS).toFixed(1)} ms, start and finish ${k.startS.toFixed(1)} s`)
          }
        } catch (err) {
          if (!(err instanceof BenchRunError)) throw err
          log(`  ${strategy} calibration failed: ${err.message.split('\n')[0]}`)
        } finally {
          rmSync(calDir, { recursive: true, force: true })
        }
      }
      const k = costs[strategy]
      if (k !== undefined && run.simulate !== null) {
        const rates = faultRates({ committed: run.simulate.completedSteps, rollbacks: run.simulate.rollbacks, audits: run.simulate.audits, interval: config.checkpointEvery })
        const best = bestInterval(k, rates)
        run.model = { ...rates, predictedS: predictSeconds(k, { attempted: run.simulate.attemptedSteps, audits: run.simulate.audits }), bestInterval: best.c, stepSecondsAtBest: best.stepSeconds, stepSecondsAtDefault: expectedStepSeconds(k, rates, config.checkpointEvery) }
      }
      const target = cleanAccuracy[strategy] ?? cleanAccuracy.codenet
      if (target !== undefined) run.testnet.timeToCleanS = timeToAccuracy(run.testnet.trace, run.testnet.testAccuracy, run.testnet.wallSeconds, target)
      runs.push(run)
      log(`  ${strategy} ${c.kind} ${fmtRate(c.rate)}: ${run.testnet.ok ? `${run.testnet.wallSeconds.toFixed(1)} s, ${pct(run.testnet.testAccuracy)}, ${run.testnet.rollbacks} rollbacks (simulate ${run.simulate?.rollbacks ?? '–'}), silent ${run.simulate?.silent ?? '–'}` : `failed after ${run.testnet.wallSeconds.toFixed(0)} s: ${run.testnet.error}`}`)
    }
  }
  log(`  error tolerance at equal storage, P = ${(opts.quick ? [6, 8] : TOLERANCE_PEERS).join(', ')} (simulate, byzantine peers)`)
  const tolerance = await runToleranceTable({ peers: opts.quick ? [6, 8] : TOLERANCE_PEERS })
  const svg: string[] = []
  const result: PaperBenchResult = {
    ...machineInfo(loadStart, started),
    quick: opts.quick,
    peers,
    seed,
    config: { model: first.model, batch: first.batch, lr: first.lr, epochs: first.epochs, checkpointEvery: first.checkpointEvery, steps: runs.find(r => r.testnet.ok)?.testnet.steps ?? 0 },
    strategies: strategies.map(s => strategyFacts(configOf(s, cases[0]))),
    cleanAccuracy,
    costs,
    runs,
    tolerance,
    svg
  }
  if (opts.svgDir !== undefined) {
    const { paperSvg } = await import('./paper-plot.ts')
    for (const kind of [...new Set(cases.map(c => c.kind))]) {
      const file = join(opts.svgDir, `paper-${kind}.svg`)
      writeFileSync(file, paperSvg(result, kind))
      svg.push(file)
    }
  }
  opts.out.write(`\n${formatPaperTable(result)}\n`)
  if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`)
  return result
}

const pct = (a: number | null): string => a === null ? '–' : `${(100 * a).toFixed(2)} %`
const sec = (s: number | null): string => s === null ? 'not reached' : `${s.toFixed(0)} s`

/** The tables of docs/paper.md: the strategies at equal storage, then one row per run. */
export function formatPaperTable (res: PaperBenchResult): string {
  const lines = [
    `| strategy | code | storage per peer | redundancy | wrong results per round corrected (adversarial / random) |`,
    '|---|---|---|---|---|',
    ...res.strategies.map(s => `| ${s.strategy} | ${s.code} | ${(100 * s.storagePerPeer).toFixed(1)} % of each layer | ${s.redundancy.toFixed(2)}× | ${s.tolerates.adversarial} / ${s.tolerates.probabilistic} |`),
    '',
    `| strategy | errors | ε | wall s | time to clean acc. | final acc. | rollbacks (simulate) | repairs | detected / corrected / uncorrectable | silent (simulate) | MB per step | completed |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...res.runs.map(r => {
      const t = r.testnet
      const f = t.faults
      const exit = /exited with (\d+)/.exec(t.error ?? '')
      const done = t.ok ? `${t.steps}/${res.config.steps}` : t.noProgress != null ? `no progress for ${t.noProgress.seconds} s beyond step ${t.noProgress.step}` : exit !== null ? `failed (exit ${exit[1]})` : `failed: ${t.error ?? ''}`.replace(/\|/g, '/')
      const sim = r.simulate
      return `| ${r.strategy} | ${r.kind} | ${fmtRate(r.rate)} | ${t.wallSeconds.toFixed(0)} | ${sec(t.timeToCleanS)} | ${pct(t.testAccuracy)} | ${t.rollbacks ?? '–'} (${sim?.rollbacks ?? '–'}) | ${t.repairs ?? '–'} | ${f === null ? '–' : `${f.detected} / ${f.corrected} / ${f.uncorrectable}`} | ${sim === null ? '–' : sim.silent}${sim?.stalled != null ? ' (simulate stalled)' : ''} | ${t.bytesPerStep === null ? '–' : (t.bytesPerStep / 1e6).toFixed(1)} | ${done} |`
    }),
    '',
    ...modelTable(res),
    '',
    formatToleranceTable(res.tolerance),
    '',
    `Clean accuracy (ε = 0): ${Object.entries(res.cleanAccuracy).map(([s, a]) => `${s} ${pct(a ?? null)}`).join(', ')}; "time to clean acc." is the first moment within ${(100 * ACCURACY_SLACK).toFixed(1)} percentage points of it.`,
    `${res.peers} peers, ${res.config.model.join('-')}, batch ${res.config.batch}, lr ${res.config.lr}, ${res.config.steps} steps, checkpoint every ${res.config.checkpointEvery}, seed ${res.seed}.`,
    machineLine(res),
    ...(res.svg.length > 0 ? [`plots: ${res.svg.join(', ')}`] : [])
  ]
  return lines.join('\n')
}

/** Expected time with checkpointing: the model's prediction beside the measured time, and its best interval. */
function modelTable (res: PaperBenchResult): string[] {
  const k = Object.entries(res.costs).map(([s, c]) => `${s}: step ${(1000 * (c?.stepS ?? 0)).toFixed(1)} ms, audit +${(1000 * (c?.auditS ?? 0)).toFixed(1)} ms, start/finish ${(c?.startS ?? 0).toFixed(1)} s`)
  return [
    `| strategy | errors | ε | p (rollback per attempt) | φ (flagged steps) | attempted steps | audits | steps lost per rollback | predicted s | measured s | measured ÷ predicted | excess per repair | best interval c* | E[step] at c* / at ${res.config.checkpointEvery} |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...res.runs.filter(r => r.model !== null && r.simulate !== null).map(r => {
      const m = r.model as NonNullable<PaperRun['model']>; const sim = r.simulate as NonNullable<PaperRun['simulate']>
      return `| ${r.strategy} | ${r.kind} | ${fmtRate(r.rate)} | ${m.p.toFixed(3)} | ${m.phi.toFixed(3)} | ${sim.attemptedSteps} | ${sim.audits} | ${sim.meanStepsLost === null ? '–' : sim.meanStepsLost.toFixed(2)} | ${m.predictedS.toFixed(0)} | ${r.testnet.ok ? r.testnet.wallSeconds.toFixed(0) : `failed at ${r.testnet.wallSeconds.toFixed(0)}`} | ${r.testnet.ok ? (r.testnet.wallSeconds / m.predictedS).toFixed(2) : '–'} | ${r.testnet.ok && (r.testnet.repairs ?? 0) > 0 ? `${(1000 * (r.testnet.wallSeconds - m.predictedS) / (r.testnet.repairs as number)).toFixed(0)} ms` : '–'} | ${m.bestInterval} | ${(1000 * m.stepSecondsAtBest).toFixed(0)} / ${(1000 * m.stepSecondsAtDefault).toFixed(0)} ms |`
    }),
    '',
    `Step costs from the clean runs (calibration: the clean job again with an audit every ${CALIBRATION_INTERVAL} steps): ${k.join('; ')}. Predicted = start/finish + attempted steps × step + audits × audit, with simulate's counts for the same job; the model leaves out the correction work itself (decodes with errors, shard repairs), so 'excess per repair' is what the run took beyond it, per repaired shard.`
  ]
}
