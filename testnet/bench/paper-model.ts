/**
 * Expected computation time with checkpointing, as CodeNet models it: a step fails (is rolled
 * back) with some probability, a failure costs the redo of everything since the last verified
 * state, and verifying (an audit, which is what makes a state a checkpoint) costs time of its
 * own, every c steps and after every step in which a fault was detected.
 *
 * In codenet a verified state is the last audited one (training/trainer/step.ts confirm): an
 * audit runs every `checkpointEvery` steps and after any step whose votes flagged a peer; a
 * rollback restores the last verified state and redoes the steps since. So, per committed step,
 *
 *   E[τ](c) = t_s + t_a·α(c) + p/(1 − p) · t_s · (1 + E[D](c))
 *
 * with t_s the time of a step, t_a the extra time of an audit, p the probability that a step
 * attempt is rolled back, φ the probability that a committed step is flagged (and audited),
 * α(c) = 1/c + φ(1 − 1/c) the audits per step, and E[D](c) = Σ_{k=1}^{c−1} (1 − φ)^k (1 − k/c)
 * the expected number of steps back to the last verified state (uniform position in the
 * c-interval, an extra audit after each flagged step). Two uses:
 *   - predict: the time of a run from the work simulate counted for the same job (attempted
 *     steps and audits) and the step costs measured on clean runs — a run that takes longer
 *     than predicted lost time to something other than the faults (waiting, a pathology);
 *   - choose c: the c that minimises E[τ](c) for given p and φ (Young's interval
 *     √(2·t_a/(p·t_s)) when φ = 0 and p is small).
 */

export interface StepCosts {
  /** Start-up and final decode: everything that is not a step (s). */
  startS: number
  /** One step (s). */
  stepS: number
  /** The extra time of an audit (s). */
  auditS: number
}

export interface FaultRates {
  /** Probability that a step attempt is rolled back. */
  p: number
  /** Probability that a committed step was flagged (and so audited). */
  phi: number
}

/**
 * Step costs from two clean runs that differ only in the checkpoint interval: both do the same
 * steps; the difference in time over the difference in audits is t_a; the step rate in the
 * middle of the c₁ run (which includes its audits, one every c₁ steps) gives t_s.
 */
export function calibrate (a: { wallS: number, steps: number, audits: number, secondsPerStep: number, interval: number }, b: { wallS: number, audits: number }): StepCosts {
  const auditS = b.audits !== a.audits ? Math.max(0, (b.wallS - a.wallS) / (b.audits - a.audits)) : 0
  const stepS = Math.max(1e-6, a.secondsPerStep - auditS / a.interval)
  const startS = Math.max(0, a.wallS - a.steps * stepS - a.audits * auditS)
  return { startS, stepS, auditS }
}

/** Audits of a clean run of `steps` steps with checkpoint interval c (every step s with (s + 1) % c = 0). */
export const cleanAudits = (steps: number, c: number): number => Math.floor(steps / c)

/** A run's time from the work it did: attempted steps (committed + redone) and audits. */
export function predictSeconds (costs: StepCosts, work: { attempted: number, audits: number }): number {
  return costs.startS + work.attempted * costs.stepS + work.audits * costs.auditS
}

/** E[D](c): expected steps back to the last verified state. */
export function expectedDistance (c: number, phi: number): number {
  let d = 0
  let q = 1
  for (let k = 1; k < c; k++) { q *= 1 - phi; d += q * (1 - k / c) }
  return d
}

/** E[τ](c): expected seconds per committed step with checkpoint interval c. */
export function expectedStepSeconds (costs: StepCosts, rates: FaultRates, c: number): number {
  const p = Math.min(rates.p, 0.999)
  const alpha = 1 / c + rates.phi * (1 - 1 / c)
  return costs.stepS + costs.auditS * alpha + (p / (1 - p)) * costs.stepS * (1 + expectedDistance(c, rates.phi))
}

/** The interval in 1..maxC with the least expected time per step (the smallest of equals). */
export function bestInterval (costs: StepCosts, rates: FaultRates, maxC = 1000): { c: number, stepSeconds: number } {
  let best = { c: 1, stepSeconds: expectedStepSeconds(costs, rates, 1) }
  for (let c = 2; c <= maxC; c++) {
    const t = expectedStepSeconds(costs, rates, c)
    if (t < best.stepSeconds * (1 - 1e-9)) best = { c, stepSeconds: t }
  }
  return best
}

/** p and φ of a run from its counts: rollbacks per step attempt, flagged audits per committed step. */
export function faultRates (counts: { committed: number, rollbacks: number, audits: number, interval: number }): FaultRates {
  const attempts = counts.committed + counts.rollbacks
  const periodic = cleanAudits(counts.committed, counts.interval)
  const flagged = Math.max(0, counts.audits - periodic)
  return { p: attempts > 0 ? counts.rollbacks / attempts : 0, phi: counts.committed > 0 ? Math.min(1, flagged / counts.committed) : 0 }
}
