/**
 * The candidate search of the decoder (codes/decode.ts, step (1) of its search): candidate
 * sets screened on sketches (sketch.ts), confirmed on the full vectors (fit.ts), accepted by
 * the mode's rule, and one taken per level by the ambiguity rule.
 *
 * Sets are index lists into the received (finite) results, in increasing order.
 */
import { binomial, forEachSubset } from '../chebyshev.ts'
import { mulberry32 } from '../random.ts'
import type { DecodeMode } from '../scheme.ts'
import { type Agreement, type Received, confirm, membership } from './fit.ts'
import { SKETCH_SEED, type Sketch, sketchAgrees, sketchOf } from './sketch.ts'

export const DEFAULT_MAX_CANDIDATES = 200_000
/**
 * Results "fit to rounding" when their residual is at most this fraction of the tolerance
 * (honest rounding is ≈ ε·κ ≤ tolerance/1000). The ambiguity rule relies on honest results
 * being that close; state audits (training) hold shards and replicated state to the same
 * level, so sub-tolerance drift never accumulates into something the decoders misjudge.
 */
export const CLEAN_FRACTION = 0.01

/** ⌊(R − q)/2⌋: the errors that R results at threshold q uniquely correct. */
export function adversarialBound (R: number, q: number): number {
  return Math.max(0, Math.floor((R - q) / 2))
}

/** Most errors the mode corrects with R results at threshold q. */
export function errorBound (mode: DecodeMode, R: number, q: number): number {
  return mode === 'adversarial' ? adversarialBound(R, q) : R - q - 1
}

/**
 * The mode's rule for a confirmed set that `agreeing` of the R results agree with:
 *  - adversarial: |R \ A| ≤ ⌊(R − q)/2⌋. Two code words each agreeing with R − e results
 *    share ≥ R − 2e ≥ q of them, so they coincide: the decode is unique.
 *  - probabilistic: |A| ≥ q + 1. With continuous random error values any q + 1 results
 *    that include an error are inconsistent almost surely.
 */
export function acceptsAgreement (mode: DecodeMode, R: number, q: number, agreeing: number): boolean {
  return mode === 'adversarial' ? R - agreeing <= adversarialBound(R, q) : agreeing >= q + 1
}

/**
 * The ambiguity rule, over the sets accepted in one level: one set is taken; of several:
 *  - first the adversarial rule |R \ A| ≤ ⌊(R − q)/2⌋ (`within`: R and q; omitted, skipped):
 *    if exactly one set passes it, that one (by the uniqueness argument it is the decode
 *    within the bound; errors it absorbed are what the leverage bounds of decode.ts check).
 *    In adversarial mode every accepted set passes; in probabilistic mode colluders on another
 *    code word form accepted sets too — with a polynomial small on the honest results, even a
 *    clean one, beside an honest set that absorbed sub-tolerance colluders and is not clean —
 *    so this is what corrects coordinated errors within the bound in that mode;
 *  - then, among the sets passing it (or all, if none does): honest sets fit to rounding
 *    (≈ ε·κ ≤ tolerance/1000) while a set that absorbed a small error fits only to near the
 *    tolerance, so the one clean set is taken.
 * Null: ambiguous.
 */
export function unambiguous (accepted: readonly Agreement[], tolerance: number, within?: { R: number, q: number }): Agreement | null {
  if (accepted.length === 1) return accepted[0]
  let pool = accepted
  if (within !== undefined) {
    const unique = accepted.filter(c => within.R - c.members.length <= adversarialBound(within.R, within.q))
    if (unique.length === 1) return unique[0]
    if (unique.length > 1) pool = unique
  }
  const clean = pool.filter(c => c.members.every(i => c.fit.residual[i] <= tolerance * CLEAN_FRACTION))
  return clean.length === 1 ? clean[0] : null
}

export interface SearchBounds {
  mode: DecodeMode
  tolerance: number
  /** errorBound(mode, R, q): leave-out sets are tried up to this many left out. */
  maxErrors: number
  maxCandidates: number
  sketchDimension: number
}

/** The outcome of a search; a refinable failure is one of the search itself, worth a look at a finer tolerance. */
export type SearchResult =
  | { ok: true, agreement: Agreement }
  | { ok: false, reason: string, refinable: boolean }

/** A level of the search: calls visit on each of its candidate sets, in order. */
type Level = (visit: (S: number[]) => void) => void

/** The sets that leave out e of R results, in lexicographic order of the left-out set. */
function leaveOut (R: number, e: number): Level {
  return visit => {
    const out = new Uint8Array(R)
    forEachSubset(R, e, E => {
      out.fill(0)
      for (const i of E) out[i] = 1
      const S: number[] = []
      for (let i = 0; i < R; i++) if (out[i] === 0) S.push(i)
      visit(S)
    })
  }
}

/** Every `size`-subset of R results, in lexicographic order. */
function subsets (R: number, size: number): Level {
  return visit => forEachSubset(R, size, S => { visit(S) })
}

/** `count` seeded random (q+1)-subsets of R results (seeded by R and q: a search is reproducible). */
function sampledSubsets (R: number, q: number, count: number): Level {
  return visit => {
    const rng = mulberry32(SKETCH_SEED ^ (R * 131 + q))
    for (let n = 0; n < count; n++) {
      const s = new Set<number>()
      while (s.size < q + 1) s.add(Math.floor(rng() * R))
      visit([...s].sort((a, b) => a - b))
    }
  }
}

/** What the levels of one search share. */
interface Search {
  received: Received
  sketch: Sketch
  bounds: SearchBounds
  /**
   * Agreeing sets already confirmed (rejected, or accepted in this level): a candidate inside
   * one of them can only lead back to it.
   */
  known: Uint8Array[]
  /** Candidates examined so far, counted against maxCandidates. */
  examined: number
}

/** Screen, confirm and judge one candidate: the agreeing set it leads to if the mode accepts it. */
function examine (search: Search, S: readonly number[]): Agreement | null {
  const { received, bounds } = search
  search.examined++
  if (search.known.some(A => S.every(i => A[i] === 1))) return null
  if (!sketchAgrees(received, search.sketch, S, bounds.tolerance)) return null
  const agreement = confirm(received, S, bounds.tolerance)
  if (agreement === null) return null
  const R = received.R
  search.known.push(membership(R, agreement.members))
  return acceptsAgreement(bounds.mode, R, received.q, agreement.members.length) ? agreement : null
}

/**
 * Examine a whole level, then judge what it accepted; null when it accepted nothing.
 * Both modes finish the level they found a decode in: a second, different agreeing set of the
 * same size means two code words fit within the tolerance (an error at the detection limit on
 * a high-leverage point). The adversarial uniqueness argument holds only for exact agreement,
 * so even within ⌊(R − q)/2⌋ errors the clean set is taken, or the decode is refused.
 */
function searchLevel (search: Search, level: Level): SearchResult | null {
  const accepted: Agreement[] = []
  level(S => {
    const agreement = examine(search, S)
    if (agreement !== null) accepted.push(agreement)
  })
  if (accepted.length === 0) return null
  const agreement = unambiguous(accepted, search.bounds.tolerance, { R: search.received.R, q: search.received.q })
  if (agreement !== null) return { ok: true, agreement }
  return { ok: false, reason: `ambiguous: ${accepted.length} different sets of results are each consistent`, refinable: true }
}

/**
 * Search candidate sets in levels until one yields a decode: leave-1-out, then leave-e-out
 * in increasing e, or all (q+1)-subsets when fewer; seeded random (q+1)-subsets up to the
 * cap when both are too many.
 */
export function searchCandidates (received: Received, bounds: SearchBounds): SearchResult {
  const R = received.R
  const { q } = received
  const { maxErrors, maxCandidates } = bounds
  const search: Search = { received, sketch: sketchOf(received, bounds.sketchDimension), bounds, known: [], examined: 0 }
  const first = searchLevel(search, leaveOut(R, 1))
  if (first !== null) return first
  if (maxErrors >= 2) {
    let leaveOutCost = 0
    for (let e = 2; e <= maxErrors; e++) leaveOutCost += binomial(R, e)
    const subsetCost = binomial(R, q + 1)
    if (Math.min(leaveOutCost, subsetCost) <= maxCandidates - search.examined) {
      const levels: Level[] = []
      if (leaveOutCost <= subsetCost) for (let e = 2; e <= maxErrors; e++) levels.push(leaveOut(R, e))
      else levels.push(subsets(R, q + 1))
      for (const level of levels) {
        const found = searchLevel(search, level)
        if (found !== null) return found
      }
    } else {
      // Too many to enumerate: seeded random (q+1)-subsets up to the cap.
      const sampled = searchLevel(search, sampledSubsets(R, q, maxCandidates - search.examined))
      return sampled ?? { ok: false, reason: `no consistent subset among ${search.examined} sampled candidates (search capped at ${maxCandidates})`, refinable: false }
    }
  }
  return { ok: false, reason: `no consistent set of results within the ${bounds.mode} bound of ${maxErrors} error(s)`, refinable: true }
}
