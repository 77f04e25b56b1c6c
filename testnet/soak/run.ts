/**
 * One soak seed: draw the nemesis (testnet/soak/nemesis.ts), run simulate with those faults and
 * the clean twin, compare. Never throws: an exception of either run is the row's outcome.
 */
import { simulate, type SimulateOptions, type SimulationResult } from '../../training/simulate.ts'
import { simulateFaultOptions } from '../../training/network-flags.ts'
import { relativeDistance } from '../../training/recovery.ts'
import type { Model } from '../../training/model.ts'
import type { TrainingConfig } from '../../training/config.ts'
import { DEFAULT_SOAK_BASE, drawNemesis, type Nemesis, type SoakBase } from './nemesis.ts'

/** A completed run whose decoded weights are farther than this from the clean run's fails the soak. */
export const WEIGHT_DISTANCE_LIMIT = 1e-9

export type SoakOutcome = 'completed' | 'stalled' | 'exception'

export interface SoakRow {
  seed: number
  /** The faults drawn, short. */
  faults: string
  outcome: SoakOutcome
  /** Why it stalled, or the exception (`Name: message`); null when completed. */
  reason: string | null
  f: number
  steps: number
  completedSteps: number | null
  injected: number | null
  detected: number | null
  corrected: number | null
  uncorrectable: number | null
  silent: number | null
  rollbacks: number | null
  resyncs: number | null
  repairs: number | null
  accuracy: number | null
  cleanAccuracy: number | null
  /** Max over layers of the relative distance of the decoded W (and of b) to the clean run's. */
  weightDistance: number | null
  biasDistance: number | null
  wallSeconds: number
  /** What was drawn, in full (replayable without the soak: simulate options). */
  nemesis: { config: TrainingConfig, plan: Nemesis['plan'], roles: Nemesis['roles'] }
}

/** The max over layers of the relative distance of W and of b. */
export function modelDistance (a: Model, b: Model): { weights: number, biases: number } {
  let weights = 0; let biases = 0
  a.layers.forEach((l, i) => {
    weights = Math.max(weights, relativeDistance(l.w.data, b.layers[i].w.data))
    biases = Math.max(biases, relativeDistance(l.b, b.layers[i].b))
  })
  return { weights, biases }
}

/** A row fails the soak: silent errors, an exception, or a completed run whose weights left the clean run's. */
export function rowFails (r: SoakRow): boolean {
  if (r.outcome === 'exception') return true
  if ((r.silent ?? 0) > 0) return true
  if (r.outcome === 'completed' && !(Math.max(r.weightDistance ?? Infinity, r.biasDistance ?? Infinity) <= WEIGHT_DISTANCE_LIMIT)) return true
  return false
}

const errText = (err: unknown): string => err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err)

/** Simulate options of a nemesis's faulty run. */
export function nemesisOptions (n: Nemesis): SimulateOptions {
  return { config: n.config, ...simulateFaultOptions(n.plan) }
}

export async function runSoakSeed (seed: number, base: SoakBase = DEFAULT_SOAK_BASE, extra: Partial<SimulateOptions> = {}): Promise<SoakRow> {
  const t0 = performance.now()
  const n = drawNemesis(seed, base)
  const row: SoakRow = {
    seed,
    faults: n.text,
    outcome: 'exception',
    reason: null,
    f: n.f,
    steps: base.steps,
    completedSteps: null,
    injected: null,
    detected: null,
    corrected: null,
    uncorrectable: null,
    silent: null,
    rollbacks: null,
    resyncs: null,
    repairs: null,
    accuracy: null,
    cleanAccuracy: null,
    weightDistance: null,
    biasDistance: null,
    wallSeconds: 0,
    nemesis: { config: n.config, plan: n.plan, roles: n.roles }
  }
  let faulty: SimulationResult
  try {
    faulty = await simulate({ ...nemesisOptions(n), ...extra })
  } catch (err) {
    row.reason = errText(err)
    row.wallSeconds = (performance.now() - t0) / 1000
    return row
  }
  const s = faulty.summary
  Object.assign(row, {
    outcome: s.stalled !== null ? 'stalled' : 'completed',
    reason: s.stalled,
    completedSteps: s.completedSteps,
    injected: s.faults.injected,
    detected: s.faults.detected,
    corrected: s.faults.corrected,
    uncorrectable: s.faults.uncorrectable,
    silent: s.faults.silent,
    rollbacks: s.rollbacks,
    resyncs: s.resyncs,
    repairs: s.repairs,
    accuracy: s.testAccuracy
  })
  try {
    const clean = await simulate({ config: n.clean, ...extra })
    row.cleanAccuracy = clean.summary.testAccuracy
    const d = modelDistance(faulty.model, clean.model)
    row.weightDistance = d.weights
    row.biasDistance = d.biases
  } catch (err) {
    row.outcome = 'exception'
    row.reason = `clean run: ${errText(err)}`
  }
  row.wallSeconds = (performance.now() - t0) / 1000
  return row
}

/** The row of a seed whose run never reported (a timeout, a dead worker): the faults drawn and the reason. */
export function failedRow (seed: number, base: SoakBase, reason: string, wallSeconds: number): SoakRow {
  const n = drawNemesis(seed, base)
  return {
    seed, faults: n.text, outcome: 'exception', reason, f: n.f, steps: base.steps,
    completedSteps: null, injected: null, detected: null, corrected: null, uncorrectable: null, silent: null,
    rollbacks: null, resyncs: null, repairs: null, accuracy: null, cleanAccuracy: null, weightDistance: null, biasDistance: null,
    wallSeconds, nemesis: { config: n.config, plan: n.plan, roles: n.roles }
  }
}
