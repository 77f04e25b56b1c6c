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
 * Search (DESIGN §1): non-finite results are errors at known places (dropped, reported
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
 * In probabilistic mode the search finishes the level (the e, or the (q+1)-subset sweep) of
 * the first accepted candidate; when several different agreeing sets are accepted (two code
 * words fit: a small error absorbed by a high-leverage point), it takes the only one that
 * fits to rounding level (residuals ≤ tolerance·CLEAN_FRACTION = tolerance/100) and refuses otherwise.
 * In probabilistic mode an ambiguous or fruitless search is repeated once at tolerance·CLEAN_FRACTION: an error
 * just above the tolerance (bit flips come in every size) is what makes sets ambiguous, and
 * at the rounding level it is plainly an error, so the honest set is found and that peer is
 * flagged instead of the round being refused.
 * No accepted candidate ⇒ { ok: false }: a wrong value is never returned as ok (beyond the
 * guarantees, only by an error pattern that itself lies on another code word).
 */
import { gemm } from './gemm/index.ts'
import { type Matrix, zeros } from './matrix.ts'
import { binomial, chebVandermonde, forEachSubset } from './chebyshev.ts'
import { pinvTall } from './linalg.ts'
import { createGaussian, createRng } from './random.ts'
import type { DecodeMode } from './scheme.ts'

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

export const DEFAULT_MAX_CANDIDATES = 200_000
/**
 * Results "fit to rounding" when their residual is at most this fraction of the tolerance
 * (honest rounding is ≈ ε·κ ≤ tolerance/1000). The ambiguity rule relies on honest results
 * being that close; state audits (training) hold shards and replicated state to the same
 * level, so sub-tolerance drift never accumulates into something the decoders misjudge.
 */
export const CLEAN_FRACTION = 0.01
const SKETCH_SEED = 0xc0de
const sketchCache = new Map<string, Matrix>()

/** L × k Gaussian directions, seeded by (L, k) so every peer sketches alike. */
export function sketchDirections (length: number, k: number): Matrix {
  const key = `${length}:${k}`
  let g = sketchCache.get(key)
  if (g === undefined) {
    const gauss = createGaussian(createRng(SKETCH_SEED ^ Math.imul(length, 2654435761) ^ k))
    g = zeros(length, k)
    for (let i = 0; i < g.data.length; i++) g.data[i] = gauss()
    if (sketchCache.size > 64) sketchCache.clear()
    sketchCache.set(key, g)
  }
  return g
}

function allFiniteArr (d: Float64Array): boolean {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false
  return true
}

function rowNorm (d: Float64Array, off: number, len: number): number {
  let s = 0
  for (let i = off; i < off + len; i++) s += d[i] * d[i]
  if (Number.isFinite(s) && s > 1e-280) return Math.sqrt(s)
  let scale = 0; let ssq = 1
  for (let i = off; i < off + len; i++) {
    const v = Math.abs(d[i])
    if (v === 0) continue
    if (scale < v) { ssq = 1 + ssq * (scale / v) ** 2; scale = v } else ssq += (v / scale) ** 2
  }
  return scale * Math.sqrt(ssq)
}

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const h = s.length >> 1
  return s.length % 2 === 1 ? s[h] : 0.5 * (s[h - 1] + s[h])
}

const TINY = 1e-300

interface Fit {
  /** q × R pseudo-inverse with zero columns for non-members. */
  pinv: Float64Array
  /** Relative residual of every received (finite) result. */
  residual: Float64Array
}

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
  // Probabilistic mode only: adversarial decodes rest on the unique-decoding bound alone.
  if (first.ok || opts.mode !== 'probabilistic' || !refinable.has(first)) return first
  // An error close to the tolerance is absorbed by some candidate sets and not by others, so
  // the search finds several agreeing sets, or none that is stable. Looking again at the
  // rounding level (tolerance·CLEAN_FRACTION, still ≥ 10× honest rounding) separates that
  // error from the honest results: accepted only if the same rules hold there.
  const refined = decodeAt(points, q, functionals, results, { ...opts, tolerance: opts.tolerance * CLEAN_FRACTION })
  return refined.ok ? refined : first
}

/** Failures of the candidate search itself (not of too few results): worth a refined look. */
const refinable = new WeakSet<object>()

function decodeAt (
  points: Float64Array,
  q: number,
  functionals: ReadonlyArray<Float64Array>,
  results: ReadonlyArray<PeerVector>,
  opts: RobustDecodeOptions
): RobustDecode {
  const nonFinite: PeerVector[] = []
  const good: PeerVector[] = []
  for (const r of results) (allFiniteArr(r.data) ? good : nonFinite).push(r)
  const R = good.length
  const tol = opts.tolerance
  const sortNums = (a: number[]): number[] => a.sort((x, y) => x - y)
  if (R < q) {
    return { ok: false, reason: `need ${q} results, have ${R} finite of ${results.length}`, suspects: sortNums(nonFinite.map(r => r.peer)) }
  }
  const L = good[0].data.length
  const Y = zeros(R, L)
  for (let i = 0; i < R; i++) Y.data.set(good[i].data, i * L)
  const V = chebVandermonde(good.map(g => points[g.peer]), q)
  const norms = good.map((_, i) => rowNorm(Y.data, i * L, L))

  const outputsFrom = (pinv: Float64Array): Float64Array[] => {
    const K = functionals.length
    if (K === 0) return []
    const M = zeros(K, R)
    for (let k = 0; k < K; k++) {
      const f = functionals[k]
      for (let d = 0; d < q; d++) {
        const w = f[d]
        if (w === 0) continue
        for (let j = 0; j < R; j++) M.data[k * R + j] += w * pinv[d * R + j]
      }
    }
    const out = gemm(M, Y)
    return Array.from({ length: K }, (_, k) => out.data.slice(k * L, (k + 1) * L))
  }

  // Full-vector least-squares fit on the members of S (indices into good).
  const fitFull = (S: number[]): Fit | null => {
    const Vs = new Float64Array(S.length * q)
    for (let a = 0; a < S.length; a++) Vs.set(V.subarray(S[a] * q, (S[a] + 1) * q), a * q)
    const ps = pinvTall(Vs, S.length, q)
    if (ps === null) return null
    const pinv = new Float64Array(q * R)
    for (let d = 0; d < q; d++) for (let a = 0; a < S.length; a++) pinv[d * R + S[a]] = ps[d * S.length + a]
    // E = (I − V·pinv)·Y: residual rows of every received result.
    const E = zeros(R, R)
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        let s = 0
        for (let d = 0; d < q; d++) s += V[i * q + d] * pinv[d * R + j]
        E.data[i * R + j] = (i === j ? 1 : 0) - s
      }
    }
    const res = gemm(E, Y)
    const scale = Math.max(median(S.map(i => norms[i])), TINY)
    const residual = new Float64Array(R)
    for (let i = 0; i < R; i++) residual[i] = rowNorm(res.data, i * L, L) / scale
    return { pinv, residual }
  }

  const idxToPeers = (idx: number[]): number[] => sortNums(idx.map(i => good[i].peer))
  const eAdv = Math.max(0, Math.floor((R - q) / 2))
  const accepts = (agree: number): boolean =>
    R === q || (opts.mode === 'adversarial' ? R - agree <= eAdv : agree >= q + 1)

  const finish = (A: number[], fit: Fit): RobustDecode => {
    const inA = new Uint8Array(R)
    for (const i of A) inA[i] = 1
    let residual = 0
    for (const i of A) residual = Math.max(residual, fit.residual[i])
    const faulty = [...nonFinite.map(r => r.peer), ...good.filter((_, i) => inA[i] === 0).map(g => g.peer)]
    return { ok: true, outputs: outputsFrom(fit.pinv), used: idxToPeers(A), faulty: sortNums(faulty), residual }
  }

  // Confirm a candidate on the full vectors: fit S, widen to all agreeing, refit until stable.
  const confirm = (S: number[]): { A: number[], fit: Fit } | null => {
    let members = S
    for (let round = 0; round < 4; round++) {
      const fit = fitFull(members)
      if (fit === null) return null
      const A: number[] = []
      for (let i = 0; i < R; i++) if (fit.residual[i] <= tol) A.push(i)
      // Every member must agree with its own fit.
      const inA = new Uint8Array(R)
      for (const i of A) inA[i] = 1
      if (members.some(i => inA[i] === 0)) return null
      if (A.length === members.length) return { A, fit }
      members = A
    }
    return null
  }

  // (0) All finite results.
  const all = Array.from({ length: R }, (_, i) => i)
  const fit0 = fitFull(all)
  if (fit0 === null) return { ok: false, reason: 'interpolation matrix is singular', suspects: [] }
  // Exactly q results: nothing to verify. Accepted only as a pure erasure decode; once some
  // results were visibly broken (non-finite), the remaining q are suspect too.
  if (R === q) {
    if (nonFinite.length === 0) return finish(all, fit0)
    return { ok: false, reason: `only ${q} finite results left after ${nonFinite.length} non-finite: nothing to verify them with`, suspects: sortNums(nonFinite.map(r => r.peer)) }
  }
  const flagged0 = all.filter(i => !(fit0.residual[i] <= tol))
  if (flagged0.length === 0) return finish(all, fit0)

  const suspects0 = sortNums([...nonFinite.map(r => r.peer), ...flagged0.map(i => good[i].peer)])
  const eMax = opts.mode === 'adversarial' ? eAdv : R - q - 1
  if (eMax < 1) {
    return { ok: false, reason: `results are inconsistent and ${R} results for threshold ${q} cannot correct any error (${opts.mode})`, suspects: suspects0 }
  }

  // (1) Sketch search.
  const k = opts.sketchDimension ?? 4
  const Ysk = gemm(Y, sketchDirections(L, k)).data
  const skNorms = all.map(i => rowNorm(Ysk, i * k, k))
  const sketchConsistent = (S: number[]): boolean => {
    const Vs = new Float64Array(S.length * q)
    for (let a = 0; a < S.length; a++) Vs.set(V.subarray(S[a] * q, (S[a] + 1) * q), a * q)
    const ps = pinvTall(Vs, S.length, q)
    if (ps === null) return false
    const scale = Math.max(median(S.map(i => skNorms[i])), TINY)
    const C = new Float64Array(q * k)
    for (let d = 0; d < q; d++) {
      for (let a = 0; a < S.length; a++) {
        const w = ps[d * S.length + a]
        const row = S[a] * k
        for (let c = 0; c < k; c++) C[d * k + c] += w * Ysk[row + c]
      }
    }
    for (let a = 0; a < S.length; a++) {
      let ss = 0
      for (let c = 0; c < k; c++) {
        let s = Ysk[S[a] * k + c]
        for (let d = 0; d < q; d++) s -= V[S[a] * q + d] * C[d * k + c]
        ss += s * s
      }
      if (!(Math.sqrt(ss) / scale <= tol)) return false
    }
    return true
  }

  // Agreeing sets already confirmed (rejected, or accepted in this level): a candidate inside
  // one of them can only lead back to it.
  const known: Uint8Array[] = []
  const insideKnown = (S: number[]): boolean => known.some(A => S.every(i => A[i] === 1))
  let examined = 0
  const maxCandidates = opts.maxCandidates ?? DEFAULT_MAX_CANDIDATES
  const accepted: Array<{ A: number[], fit: Fit }> = []
  // Both modes finish the level they found a decode in: a second, different agreeing set of the
  // same size means two code words fit within the tolerance (an error at the detection limit on
  // a high-leverage point). The adversarial uniqueness argument holds only for exact agreement,
  // so even within ⌊(R − q)/2⌋ errors the clean set is taken, or the decode is refused.
  const exhaustLevel = true
  const tryCandidate = (S: number[]): boolean => {
    examined++
    if (insideKnown(S) || !sketchConsistent(S)) return false
    const c = confirm(S)
    if (c === null) return false
    const mask = new Uint8Array(R)
    for (const i of c.A) mask[i] = 1
    known.push(mask)
    if (!accepts(c.A.length)) return false
    accepted.push(c)
    return !exhaustLevel
  }
  const levelDone = (): RobustDecode | null => {
    if (accepted.length === 0) return null
    if (accepted.length === 1) return finish(accepted[0].A, accepted[0].fit)
    // Honest sets fit to rounding (≈ ε·κ ≤ tolerance/1000); a set that absorbed a small
    // error fits only to near the tolerance. Take the one clean set, else refuse.
    const clean = accepted.filter(c => c.A.every(i => c.fit.residual[i] <= tol * CLEAN_FRACTION))
    if (clean.length === 1) return finish(clean[0].A, clean[0].fit)
    const amb: RobustDecode = { ok: false, reason: `ambiguous: ${accepted.length} different sets of results are each consistent`, suspects: suspects0 }
    refinable.add(amb)
    return amb
  }
  const leaveOut = (e: number): boolean => {
    const out = new Uint8Array(R)
    return forEachSubset(R, e, E => {
      out.fill(0)
      for (const i of E) out[i] = 1
      return tryCandidate(all.filter(i => out[i] === 0))
    })
  }

  leaveOut(1)
  let done = levelDone()
  if (done !== null) return done
  let leaveOutCost = 0
  for (let e = 2; e <= eMax; e++) leaveOutCost += binomial(R, e)
  const subsetCost = binomial(R, q + 1)
  if (eMax >= 2) {
    if (Math.min(leaveOutCost, subsetCost) <= maxCandidates - examined) {
      if (leaveOutCost <= subsetCost) {
        for (let e = 2; e <= eMax; e++) {
          leaveOut(e)
          done = levelDone()
          if (done !== null) return done
        }
      } else {
        forEachSubset(R, q + 1, S => tryCandidate(S))
        done = levelDone()
        if (done !== null) return done
      }
    } else {
      // Too many to enumerate: seeded random (q+1)-subsets up to the cap.
      const rng = createRng(SKETCH_SEED ^ (R * 131 + q))
      while (examined < maxCandidates) {
        const s = new Set<number>()
        while (s.size < q + 1) s.add(Math.floor(rng() * R))
        if (tryCandidate([...s].sort((a, b) => a - b))) break
      }
      done = levelDone()
      if (done !== null) return done
      return { ok: false, reason: `no consistent subset among ${examined} sampled candidates (search capped at ${maxCandidates})`, suspects: suspects0 }
    }
  }
  const none: RobustDecode = { ok: false, reason: `no consistent set of results within the ${opts.mode} bound of ${eMax} error(s)`, suspects: suspects0 }
  refinable.add(none)
  return none
}
