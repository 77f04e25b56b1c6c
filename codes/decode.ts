/**
 * Erasure and error decoding of evaluation codes: every peer p returns (a vector of)
 * values at v_p of one polynomial of degree < q, written in the Chebyshev basis. From any
 * q results we interpolate; results beyond q buy detection and correction.
 *
 * Consistency is judged per peer on its whole result vector: after fitting the
 * polynomial to a set S by least squares, peer p's relative residual is
 * ‖y_p − ŷ_p‖₂ / scale_S with scale_S = the median of ‖y_q‖₂ over q ∈ S (robust to a
 * minority of huge or zeroed results). A peer agrees when that is ≤ tolerance.
 *
 * Search (docs/design.md §Decoding): non-finite results are errors at known places (dropped, reported
 * faulty; they cost one redundant result each, like erasures). Then (0) fit all results
 * and accept if all agree — one least-squares fit, the common case; (1) otherwise search
 * candidate subsets on a sketch: every result projected on a few seeded Gaussian
 * directions, so a candidate costs a q×q-sized solve instead of a full-vector fit.
 * Candidates are leave-e-out sets in increasing e, or (q+1)-subsets when fewer; a subset
 * whose sketches agree is confirmed on the full vectors (fit, widen to every agreeing
 * peer, refit) and accepted only when the agreeing set A passes the mode's rule:
 *  - adversarial: |R \ A| ≤ ⌊(R − q)/2⌋. Two code words each agreeing with R − e results
 *    share ≥ R − 2e ≥ q of them, so they coincide: the decode is unique.
 *  - probabilistic: |A| ≥ q + 1. With continuous random error values any q + 1 results
 *    that include an error are inconsistent almost surely, so up to R − q − 1 errors.
 * The search finishes the level (the e, or the (q+1)-subset sweep) of the first accepted
 * candidate; when several different agreeing sets are accepted (two code words fit: a small
 * error absorbed by a high-leverage point), it takes the only one that fits to rounding
 * level (residuals ≤ tolerance·CLEAN_FRACTION = tolerance/100) and refuses otherwise.
 * In probabilistic mode an ambiguous or fruitless search is repeated once at tolerance·CLEAN_FRACTION: an error
 * just above the tolerance (bit flips come in every size) is what makes sets ambiguous, and
 * at the rounding level it is plainly an error, so the honest set is found and that peer is
 * flagged instead of the round being refused.
 * No accepted candidate ⇒ { ok: false }: a wrong value is never returned as ok (beyond the
 * guarantees, only by an error pattern that itself lies on another code word).
 *
 * The pieces live in codes/decode/: fit.ts (full-vector fits, residuals, confirmation),
 * sketch.ts (the sketches that screen candidates), search.ts (candidate levels, the mode's
 * acceptance rule, the ambiguity rule).
 */
import { allFinite } from './matrix.ts'
import type { DecodeMode } from './scheme.ts'
import { type Fit, type Received, agrees, evaluateFunctionals, fitSet, membership, receive } from './decode/fit.ts'
import { CLEAN_FRACTION, DEFAULT_MAX_CANDIDATES, errorBound, searchCandidates } from './decode/search.ts'

export { CLEAN_FRACTION, DEFAULT_MAX_CANDIDATES } from './decode/search.ts'
export { sketchDirections } from './decode/sketch.ts'

export interface RobustDecodeOptions {
  mode: DecodeMode
  /** Relative residual above which a result disagrees. */
  tolerance: number
  /** Cap on sketch candidates examined (default 200,000); beyond it random (q+1)-subsets are sampled. */
  maxCandidates?: number
  /** Sketch directions (default 4). */
  sketchDimension?: number
}

export type RobustDecode =
  | { ok: true, outputs: Float64Array[], used: number[], faulty: number[], residual: number }
  | { ok: false, reason: string, suspects: number[] }

/** One peer's result, flattened. */
export interface PeerVector {
  peer: number
  data: Float64Array
}

type Decoded = Extract<RobustDecode, { ok: true }>

/**
 * One decode at one tolerance. `refinable` marks failures of the candidate search itself
 * (not of too few results): worth a refined look.
 */
type Attempt = Decoded | { ok: false, reason: string, suspects: number[], refinable: boolean }

/**
 * Decode `functionals` (each of length q, applied to the Chebyshev coefficients of the
 * fitted polynomial) from peers' results at the given evaluation points.
 */
export function robustDecode (
  points: Float64Array,
  q: number,
  functionals: ReadonlyArray<Float64Array>,
  results: ReadonlyArray<PeerVector>,
  opts: RobustDecodeOptions
): RobustDecode {
  const first = decodeAt(points, q, functionals, results, opts)
  if (first.ok) return first
  const refused: RobustDecode = { ok: false, reason: first.reason, suspects: first.suspects }
  // Probabilistic mode only: adversarial decodes rest on the unique-decoding bound alone.
  if (opts.mode !== 'probabilistic' || !first.refinable) return refused
  // An error close to the tolerance is absorbed by some candidate sets and not by others, so
  // the search finds several agreeing sets, or none that is stable. Looking again at the
  // rounding level (tolerance·CLEAN_FRACTION, still ≥ 10× honest rounding) separates that
  // error from the honest results: accepted only if the same rules hold there.
  const refined = decodeAt(points, q, functionals, results, { ...opts, tolerance: opts.tolerance * CLEAN_FRACTION })
  return refined.ok ? refined : refused
}

function decodeAt (
  points: Float64Array,
  q: number,
  functionals: ReadonlyArray<Float64Array>,
  results: ReadonlyArray<PeerVector>,
  opts: RobustDecodeOptions
): Attempt {
  const nonFinite: number[] = []
  const good: PeerVector[] = []
  for (const r of results) {
    if (allFinite(r.data)) good.push(r)
    else nonFinite.push(r.peer)
  }
  const R = good.length
  const tol = opts.tolerance
  const refuse = (reason: string, suspects: number[], refinable = false): Attempt => ({ ok: false, reason, suspects, refinable })
  if (R < q) return refuse(`need ${q} results, have ${R} finite of ${results.length}`, sorted(nonFinite))
  const received = receive(good.map(g => points[g.peer]), q, good.map(g => g.data))
  const decoded = (members: number[], fit: Fit): Decoded =>
    decodedFrom(received, functionals, good, nonFinite, members, fit)

  // (0) All finite results.
  const all = Array.from({ length: R }, (_, i) => i)
  const fit0 = fitSet(received, all)
  if (fit0 === null) return refuse('interpolation matrix is singular', [])
  // Exactly q results: nothing to verify. Accepted only as a pure erasure decode; once some
  // results were visibly broken (non-finite), the remaining q are suspect too.
  if (R === q) {
    if (nonFinite.length === 0) return decoded(all, fit0)
    return refuse(`only ${q} finite results left after ${nonFinite.length} non-finite: nothing to verify them with`, sorted(nonFinite))
  }
  const flagged0 = all.filter(i => !agrees(fit0.residual[i], tol))
  if (flagged0.length === 0) return decoded(all, fit0)

  const suspects0 = sorted([...nonFinite, ...flagged0.map(i => good[i].peer)])
  const eMax = errorBound(opts.mode, R, q)
  if (eMax < 1) {
    return refuse(`results are inconsistent and ${R} results for threshold ${q} cannot correct any error (${opts.mode})`, suspects0)
  }

  // (1) Sketch search.
  const found = searchCandidates(received, {
    mode: opts.mode,
    tolerance: tol,
    maxErrors: eMax,
    maxCandidates: opts.maxCandidates ?? DEFAULT_MAX_CANDIDATES,
    sketchDimension: opts.sketchDimension ?? 4
  })
  if (found.ok) return decoded(found.agreement.members, found.agreement.fit)
  return refuse(found.reason, suspects0, found.refinable)
}

/** The decode from the agreeing set `members` (indices into `good`) and its fit. */
function decodedFrom (
  received: Received,
  functionals: ReadonlyArray<Float64Array>,
  good: readonly PeerVector[],
  nonFinite: readonly number[],
  members: readonly number[],
  fit: Fit
): Decoded {
  const inA = membership(good.length, members)
  let residual = 0
  for (const i of members) residual = Math.max(residual, fit.residual[i])
  const faulty = [...nonFinite, ...good.filter((_, i) => inA[i] === 0).map(g => g.peer)]
  return {
    ok: true,
    outputs: evaluateFunctionals(received, functionals, fit.pinv),
    used: sorted(members.map(i => good[i].peer)),
    faulty: sorted(faulty),
    residual
  }
}

function sorted (xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b)
}
