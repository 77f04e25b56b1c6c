/**
 * codes/: pure, synchronous coded-computation maths. Entry points: `createScheme` and
 * `chooseCode`; the classes, Chebyshev helpers and error types for the rest.
 */
import { PolyDotScheme } from './polydot.ts'
import { chebVandermonde, chebyshevPoints, conditionNumber, worstConditionNumber } from './chebyshev.ts'
import { ReplicationScheme } from './replication.ts'
import { CodeConfigError } from './errors.ts'
import type { CodeScheme } from './scheme.ts'

export type SchemeSpec =
  | { kind: 'polydot', peers: number, m: number, n: number }
  | { kind: 'replication', peers: number, replicas: number }
  | { kind: 'uncoded', peers: number }

export interface SchemeOptions {
  /** Largest acceptable worst-case decoding condition number (default 1e8). */
  conditionBudget?: number
}

export function createScheme (spec: SchemeSpec, opts: SchemeOptions = {}): CodeScheme {
  switch (spec.kind) {
    case 'polydot': return new PolyDotScheme(spec.peers, spec.m, spec.n, opts)
    case 'replication': return new ReplicationScheme(spec.peers, spec.replicas, 'replication')
    case 'uncoded': return new ReplicationScheme(spec.peers, 1, 'uncoded')
    default: throw new CodeConfigError(`unknown scheme kind ${(spec as { kind: unknown }).kind}`)
  }
}

/**
 * Condition budget of the default code: tighter than the refusal budget so the default
 * decoder's consistency tolerance (1000·ε·κ) stays ≤ 2.2e-7.
 */
export const DEFAULT_CHOICE_BUDGET = 1e6

/** Fraction of peers whose arbitrary errors the default code must correct in both phases. */
export const DEFAULT_FAULT_FRACTION = 1 / 6

/**
 * The default PolyDot code for P peers.
 *
 * Per-peer work is 1/(mn) of the layer; with R = P results a phase corrects
 * ⌊(P − Q)/2⌋ arbitrary errors, and the backward threshold Q_bwd = 2mn − n is the larger
 * one whenever m ≥ 2, so it binds. Rule: guarantee t* = max(1, ⌊P/6⌋) corrected errors in
 * both phases (one faulty peer in six), and among the codes that do, take the least
 * per-peer work (largest mn); ties go to more correction (smaller max(Q_fwd, Q_bwd)), then
 * to the smaller Q_fwd. Codes whose decoding is ill-conditioned beyond the default budget
 * (worst case over Q-subsets above DEFAULT_CHOICE_BUDGET = 1e6) are skipped (prefiltered by the condition number of the contiguous run of Q points at
 * one end, the worst pattern in every configuration we measured). P = 6: t* = 1; mn = 2
 * gives (2,1) with Q = (2, 3) or (1,2) with Q = (3, 3) — both correct 1 backward error,
 * (2,1) corrects 2 forward, so m = 2, n = 1. For P ≤ 2 no code corrects an error;
 * then m = n = 1 (detection only).
 */
export function chooseCode (peers: number, budget = DEFAULT_CHOICE_BUDGET): { m: number, n: number } {
  if (!Number.isInteger(peers) || peers < 1) throw new CodeConfigError(`peers must be a positive integer, got ${peers}`)
  const target = Math.max(1, Math.floor(peers * DEFAULT_FAULT_FRACTION))
  const pts = chebyshevPoints(peers)
  const endRun = (q: number): number => conditionNumber(chebVandermonde(pts.subarray(0, q), q), q, q)
  const candidates: Array<{ m: number, n: number, qf: number, qmax: number }> = []
  for (let m = 1; m <= peers; m++) {
    for (let n = 1; n <= peers; n++) {
      const qf = m * n + n - 1; const qmax = Math.max(qf, 2 * m * n - n)
      if (Math.floor((peers - qmax) / 2) < target) continue
      if (endRun(qf) > budget || endRun(2 * m * n - n) > budget) continue
      candidates.push({ m, n, qf, qmax })
    }
  }
  candidates.sort((a, b) => b.m * b.n - a.m * a.n || a.qmax - b.qmax || a.qf - b.qf)
  for (const c of candidates) {
    if (worstConditionNumber(pts, c.qf) <= budget && worstConditionNumber(pts, c.qmax) <= budget) return { m: c.m, n: c.n }
  }
  return { m: 1, n: 1 }
}

export { PolyDotScheme, createPolyDot, defaultTolerance, DEFAULT_CONDITION_BUDGET, MAX_PEERS } from './polydot.ts'
export type { PolyDotOptions, PolyDotDecodeOptions, ShardOptions } from './polydot.ts'
export { ReplicationScheme, createReplication, createUncoded, REPLICATION_TOLERANCE } from './replication.ts'
export {
  chebyshevPoints, chebValues, chebT, chebEval, chebMul, chebBasis, chebVandermonde,
  conditionNumber, worstConditionNumber, worstConditionInfo, EXHAUSTIVE_SUBSET_LIMIT
} from './chebyshev.ts'
export type { WorstCondition } from './chebyshev.ts'
export { robustDecode, sketchDirections, ACCEPT_SHIFT, CLEAN_FRACTION } from './decode.ts'
export type { RobustDecode, RobustDecodeOptions, PeerVector } from './decode.ts'
export { createShardProbe, sketchShard } from './audit.ts'
export { CodeConfigError, ConditionBudgetError, CodeInputError, UncorrectableError } from './errors.ts'
export type * from './scheme.ts'
export { worstCorrectable } from './scheme.ts'
export { PolynomialCode, createPolynomialCode } from './polynomial.ts'
export type { ProductDecode } from './polynomial.ts'
export { BerrutCode, createBerrutCode } from './bacc.ts'
// The matrices every entry point takes and returns (Float64Array, row-major), for users of the library.
export { matrix, zeros, identity, fromRows, toRows, clone, transpose, relativeError, maxAbs, allFinite, ShapeError } from './matrix.ts'
export type { Matrix } from './matrix.ts'
