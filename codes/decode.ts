/**
 * Erasure and error decoding of evaluation codes: every peer p returns (a vector of)
 * values at v_p of one polynomial of degree < q, written in the Chebyshev basis. Any q
 * results determine it, but q results always fit some polynomial, so nothing is accepted
 * from fewer than q + 1 ("too few results to check"); results beyond q buy detection and
 * correction.
 *
 * Consistency is judged per peer on its whole result vector: after fitting the
 * polynomial to a set S by least squares, peer p's relative residual is
 * ‖y_p − ŷ_p‖₂ / scale_S with scale_S = the median of ‖y_q‖₂ over q ∈ S (robust to a
 * minority of huge or zeroed results). A peer agrees when that is ≤ tolerance.
 *
 * Search (docs/design.md §Decoding): non-finite results are errors at known places (dropped, reported
 * faulty; they cost one redundant result each, like erasures). Then (0) fit all results
 * and accept if all agree — one least-squares fit, the common case, done together with the
 * finiteness screen and the decode itself in one pass over the results (fit.ts `firstLook`;
 * docs/codes.md §What a decode costs); (1) otherwise search
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
 * Of several clean sets, the one within the adversarial bound is taken (colluders agreeing on
 * another code word form a clean set too).
 * Leverage (decode/leverage.ts): an agreeing set is accepted only if an error hidden by the fit
 * — one at any member, or up to ⌊(R − q)/2⌋ + 1 colluding members — could not move the decode
 * by more than ACCEPT_SHIFT (1e-7) relative; otherwise { ok: false, reason: 'leverage: …' } and
 * the caller waits for more results (a leverage refusal is looked at once more at the rounding
 * level, in both modes: an error the tolerance let in is flagged there).
 * No accepted candidate ⇒ { ok: false }: a wrong value is never returned as ok (beyond the
 * guarantees, only by an error pattern that itself lies on — or, within the tolerance, near —
 * another code word: docs/codes.md §Leverage, limits).
 *
 * The pieces live in codes/decode/: fit.ts (full-vector fits, residuals, confirmation),
 * sketch.ts (the sketches that screen candidates), search.ts (candidate levels, the mode's
 * acceptance rule, the ambiguity rule), leverage.ts (the hidden-error bounds).
 */
import { chebVandermonde } from './chebyshev.ts'
import type { DecodeMode } from './scheme.ts'
import { type Fit, type PinvCache, type Received, agrees, decodeOutputs, firstLook, fitSet, membership, receive } from './decode/fit.ts'
import { CLEAN_FRACTION, DEFAULT_MAX_CANDIDATES, adversarialBound, errorBound, searchCandidates } from './decode/search.ts'
import { ACCEPT_SHIFT, colludingShift, hiddenShift, leverageBasis } from './decode/leverage.ts'

export { CLEAN_FRACTION, DEFAULT_MAX_CANDIDATES } from './decode/search.ts'
export { ACCEPT_SHIFT } from './decode/leverage.ts'
export { sketchDirections } from './decode/sketch.ts'

export interface RobustDecodeOptions {
  mode: DecodeMode
  /** Relative residual above which a result disagrees. */
  tolerance: number
  /** Cap on sketch candidates examined (default 200,000); beyond it random (q+1)-subsets are sampled. */
  maxCandidates?: number
  /** Sketch directions (default 4). */
  sketchDimension?: number
  /**
   * A lower bound for the leverage bound's rounding floor (relative residual below which a
   * computed residual carries no information); the floor is otherwise 10·ε·κ_F of the agreeing
   * set (codes/decode/leverage.ts). Default 0.
   */
  roundingFloor?: number
  /** Largest accepted relative shift of the decode by hidden errors (default ACCEPT_SHIFT). */
  acceptShift?: number
  /**
   * Faulty peers that may coordinate on another code word (the job's f): an agreeing set is
   * accepted only with at least q + colluders members, so that q of them are honest. Default 0.
   */
  colluders?: number
  /**
   * Worst cond₂ over every q-subset of `points` (measured exhaustively), when known: lets the
   * several-hidden-errors bound skip its exact step in the common case (codes/decode/leverage.ts).
   */
  conditionNumber?: number
}

export type RobustDecode =
  | {
    ok: true
    /** The decoded functionals, each of length L: views into `data`. */
    outputs: Float64Array[]
    /** All outputs one after the other (K × L). */
    data: Float64Array
    used: number[]
    faulty: number[]
    residual: number
  }
  | { ok: false, reason: string, suspects: number[] }

/** One peer's result, flattened. */
export interface PeerVector {
  peer: number
  data: Float64Array
}

type Decoded = Extract<RobustDecode, { ok: true }>

/**
 * One decode at one tolerance. `refinable` marks failures worth a refined look: of the
 * candidate search itself ('search', probabilistic mode), or of the leverage bound
 * ('leverage', both modes: an error the tolerance let into the agreeing set may be flagged at
 * the rounding level) — not of too few results.
 */
type Attempt = Decoded | { ok: false, reason: string, suspects: number[], refinable: false | 'search' | 'leverage' }

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
  // Search failures are refined in probabilistic mode only: adversarial decodes rest on the
  // unique-decoding bound alone. Leverage refusals in both modes (the refined decode must
  // pass the mode's rule and the leverage bounds all the same).
  if (first.refinable === false || (first.refinable === 'search' && opts.mode !== 'probabilistic')) return refused
  // An error close to the tolerance is absorbed by some candidate sets and not by others, so
  // the search finds several agreeing sets, or none that is stable; or it is absorbed by the
  // agreeing set and only the leverage bound sees it. Looking again at the rounding level
  // (tolerance·CLEAN_FRACTION, still ≥ 10× honest rounding) separates that error from the
  // honest results: accepted only if the same rules hold there.
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
  // Non-finite results are errors at known places. One pass over all results gives their norms,
  // screens them (a finite sum of squares means every entry is finite), and — speculatively,
  // the common case — fits all of them and decodes that fit (codes/decode/fit.ts).
  const refuse = (reason: string, suspects: number[], refinable: false | 'search' | 'leverage' = false): Attempt => ({ ok: false, reason, suspects, refinable })
  if (results.length === 0) return refuse(`too few results to check (0 of ${q + 1})`, [])
  const cache = pinvCache(points)
  const look = firstLook(results.map(r => points[r.peer]), q, results.map(r => r.data), { senders: { ids: results.map(r => r.peer), cache }, functionals })
  const good = results.filter((_, i) => look.finite[i])
  const nonFinite = results.filter((_, i) => !look.finite[i]).map(r => r.peer)
  const R = good.length
  const tol = opts.tolerance
  // No unchecked acceptance: Q results always fit some code word, so a decode needs at least
  // one result beyond the threshold to be checked at all (more to correct, by the mode's rule).
  if (R <= q) return refuse(`too few results to check (${R} of ${q + 1})`, sorted(nonFinite))
  const received = nonFinite.length === 0
    ? look.received
    : receive(good.map(g => points[g.peer]), q, good.map(g => g.data), { senders: { ids: good.map(g => g.peer), cache }, functionals })
  const floor = opts.roundingFloor ?? 0
  const colluders = Math.max(0, Math.floor(opts.colluders ?? 0))
  const target = opts.acceptShift ?? ACCEPT_SHIFT
  const accept = (members: number[], fit: Fit, suspects: number[]): Attempt => {
    // Colluders: up to f results may lie on one other code word together with honest ones; an
    // agreeing set of q + f holds q honest results, which fix the code word. Fewer cannot tell.
    if (members.length < q + colluders) {
      return refuse(`too few agreeing results to rule out ${colluders} colluding peers (${members.length} of ${q + colluders})`, suspects)
    }
    const { decoded: d, norm } = decodedFrom(received, functionals, good, nonFinite, members, fit)
    // Results that are exactly zero decode to exactly zero: nothing can hide there.
    if (members.every(i => received.norms[i] === 0)) return d
    // Leverage: the decode must not move by more than `target` (relative) if any one of the
    // results it rests on carries an error the fit absorbed (codes/decode/leverage.ts).
    const codeRows = functionals.length === 0 ? { data: chebVandermonde(points, q), rows: points.length } : null
    const basis = leverageBasis(received, members, fit, floor)
    const h = hiddenShift(received, members, fit, functionals, codeRows, basis)
    // No outputs: shifts of code-word values, relative to a typical result.
    const size = functionals.length > 0 ? norm : basis.scale
    const relative = (x: number): string => Number.isFinite(x / size) ? (x / size).toExponential(1) : 'an unbounded amount'
    if (!(h.shift <= target * size)) {
      return refuse(
        `leverage: an error hidden at peer ${good[h.at].peer} (1 − h = ${h.freedom.toExponential(1)}) could move the decode by ${relative(h.shift)} relative (accepted ≤ ${target.toExponential(0)}); more results lower the leverage`,
        suspects, 'leverage')
    }
    // Up to t = ⌊(R − q)/2⌋ errors of any value are within the adversarial bound, and all of
    // them may hide in A together — colluders on another code word pull the fit so that honest
    // results are the ones flagged — so A is bounded for t hidden errors, not t − |flagged|;
    // and for one more, so that colluders just beyond the bound are refused too (at stage 0,
    // |A| − (t + 1) ≥ q always). Both modes; at least q members are left honest.
    const hidden = Math.min(Math.max(adversarialBound(R, q) + 1, colluders), members.length - q)
    if (hidden >= 2) {
      const c = colludingShift(received, members, fit, functionals, codeRows, hidden, opts.conditionNumber ?? null, target * size, basis)
      if (!(c <= target * size)) {
        return refuse(
          `leverage: ${hidden} colluding errors hidden in the agreeing set could move the decode by ${relative(c)} relative (accepted ≤ ${target.toExponential(0)})`,
          suspects, 'leverage')
      }
    }
    return d
  }

  // (0) All finite results (fitted and decoded by the first look when all were finite).
  const all = Array.from({ length: R }, (_, i) => i)
  const fit0 = look.all ?? fitSet(received, all)
  if (fit0 === null) return refuse('interpolation matrix is singular', [])
  const flagged0 = all.filter(i => !agrees(fit0.residual[i], tol))
  if (flagged0.length === 0) return accept(all, fit0, sorted(nonFinite))

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
  if (found.ok) return accept(found.agreement.members, found.agreement.fit, suspects0)
  return refuse(found.reason, suspects0, found.refinable ? 'search' : false)
}

/** The decode from the agreeing set `members` (indices into `good`) and its fit, with the outputs' norm. */
function decodedFrom (
  received: Received,
  functionals: ReadonlyArray<Float64Array>,
  good: readonly PeerVector[],
  nonFinite: readonly number[],
  members: readonly number[],
  fit: Fit
): { decoded: Decoded, norm: number } {
  const inA = membership(good.length, members)
  let residual = 0
  for (const i of members) residual = Math.max(residual, fit.residual[i])
  const faulty = [...nonFinite, ...good.filter((_, i) => inA[i] === 0).map(g => g.peer)]
  // Computed with the fit's residuals when it was (the first look, a confirmed candidate).
  const { outputs, data, norm } = fit.decoded ?? decodeOutputs(received, functionals, fit.pinv)
  return {
    decoded: { ok: true, outputs, data, used: sorted(members.map(i => good[i].peer)), faulty: sorted(faulty), residual },
    norm
  }
}

/** Pseudo-inverse caches, one per point set (a scheme's points array lives as long as the scheme). */
const pinvCaches = new WeakMap<Float64Array, PinvCache>()

function pinvCache (points: Float64Array): PinvCache {
  let cache = pinvCaches.get(points)
  if (cache === undefined) { cache = new Map(); pinvCaches.set(points, cache) }
  return cache
}

function sorted (xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b)
}
