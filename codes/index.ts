/**
 * codes/: pure, synchronous coded-computation maths. Entry points: `createScheme` and
 * `chooseCode`; the classes, Chebyshev helpers and error types for the rest.
 */
import { PolyDotScheme } from './polydot.ts'
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
 * The default PolyDot code for P peers.
 *
 * n = 1 always: for the same per-peer work 1/(mn) of the layer, n > 1 raises both
 * thresholds (Q_fwd = mn + n − 1, Q_bwd = 2mn − n) and so lowers error correction; n > 1
 * only pays off by shrinking result vectors, which we do not optimise for. With n = 1,
 * Q = m in both phases and ⌊(P − m)/2⌋ errors are corrected. We then require at most half
 * the layer per peer (m ≥ 2 — otherwise this is replication) and, among those, the most
 * correctable errors, ⌊(P − 2)/2⌋; ties go to the larger m (less work). That is m = 2 for
 * even P and m = 3 for odd P (P = 6: m = 2, corrects 2 errors, detects 4). Below P = 4 no
 * code with m ≥ 2 corrects anything, so m = 1 (every peer holds all of W, still coded
 * forward/backward with error correction ⌊(P − 1)/2⌋).
 */
export function chooseCode (peers: number): { m: number, n: number } {
  if (!Number.isInteger(peers) || peers < 1) throw new CodeConfigError(`peers must be a positive integer, got ${peers}`)
  if (peers < 4) return { m: 1, n: 1 }
  return { m: peers % 2 === 0 ? 2 : 3, n: 1 }
}

export { PolyDotScheme, createPolyDot, defaultTolerance, DEFAULT_CONDITION_BUDGET, MAX_PEERS } from './polydot.ts'
export type { PolyDotOptions, PolyDotDecodeOptions, ShardOptions } from './polydot.ts'
export { ReplicationScheme, createReplication, createUncoded, REPLICATION_TOLERANCE } from './replication.ts'
export {
  chebyshevPoints, chebValues, chebT, chebEval, chebMul, chebBasis, chebVandermonde,
  conditionNumber, worstConditionNumber, worstConditionInfo, EXHAUSTIVE_SUBSET_LIMIT
} from './chebyshev.ts'
export type { WorstCondition } from './chebyshev.ts'
export { robustDecode, sketchDirections } from './decode.ts'
export type { RobustDecode, RobustDecodeOptions, PeerVector } from './decode.ts'
export { createShardProbe, sketchShard } from './audit.ts'
export { CodeConfigError, ConditionBudgetError, CodeInputError, UncorrectableError } from './errors.ts'
export type * from './scheme.ts'
