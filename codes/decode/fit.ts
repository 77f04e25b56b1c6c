/**
 * Full-vector least-squares fits of the decoder (codes/decode.ts): fit the polynomial to a
 * set S of received results, judge every result by its relative residual against that fit,
 * and confirm a candidate set by widening it to every agreeing result.
 *
 * Sets are index lists into the received (finite) results, in increasing order.
 *
 * Cost: the results are never copied into a matrix of their own for a fit. They are loaded
 * once into the row kernels' memory (codes/gemm/rows.ts) and every full-vector step is one
 * pass over them: the residual map E = I − V·pinv_S applied with only the sums of squares of
 * its rows kept (residual norms: no R × L residual matrix), the decoding functionals applied
 * to give the outputs and their norm. The products are bit for bit those of `gemm` (same
 * kernel, same order); only the sums of squares are accumulated in another order (a few ulps
 * of the residual norms, and the scaled loop takes over where a plain sum of squares would
 * over- or underflow). Pseudo-inverses of the small Chebyshev–Vandermonde rows of a set are
 * cached per set of senders (`PinvCache`): a decode for a given set of responders is a fixed
 * linear map, and few sets recur.
 */
import { type LoadedRows, loadRows, residentMatrix, rowPass, rowProduct, rowSumsOfSquares } from '../gemm/rows.ts'
import { type Matrix, allFinite, matrix } from '../matrix.ts'
import { pinvTall } from '../linalg.ts'
import { median } from '../stats.ts'
import { vector } from '../vectors.ts'

/**
 * Pseudo-inverses of V_S by q, then by the senders of S in order (their indices into one fixed
 * point set; the owner keeps one cache per point set). Null: rank deficient.
 */
export type PinvCache = Map<number, Map<number | string, Float64Array | null>>

/** Entries a pseudo-inverse cache holds per q before it is emptied (every subset of 14 senders fits). */
export const PINV_CACHE_LIMIT = 20_000

/** The finite results a decode works on: R rows of length L, received at R points. */
export interface Received {
  /** The polynomial has degree < q. */
  q: number
  /** R × q Chebyshev Vandermonde matrix at the senders' points. */
  V: Float64Array
  /** R: how many results. */
  R: number
  /** L: the length of every result. */
  L: number
  /** The results themselves (not copied). */
  rows: readonly Float64Array[]
  /** The results as the row kernels see them. */
  loaded: LoadedRows
  /** ‖y_i‖₂ of every result. */
  norms: Float64Array
  /** Senders' indices into a fixed point set and the cache of pseudo-inverses for it; null: no caching. */
  senders: { ids: readonly number[], cache: PinvCache } | null
  /** The decoding functionals (each of length q): what a confirmed fit decodes to. */
  functionals: ReadonlyArray<Float64Array>
}

export interface Fit {
  /** q × R pseudo-inverse with zero columns for non-members. */
  pinv: Float64Array
  /** Relative residual of every received (finite) result. */
  residual: Float64Array
  /** The fit's decoded outputs, when they were computed in the same pass as its residuals. */
  decoded?: Decoded
}

/** A confirmed set: its members (every result that agrees with their fit) and that fit. */
export interface Agreement {
  members: number[]
  fit: Fit
}

/** Floor of a set's scale, so that a set of zero results divides by something. */
const TINY = 1e-300

/** A plain sum of squares is trusted (no overflow, no underflow of the squares) in (SAFE_SUM, ∞). */
const SAFE_SUM = 1e-280

export interface ReceiveOptions {
  /** Senders and pseudo-inverse cache (see `PinvCache`). */
  senders?: { ids: readonly number[], cache: PinvCache }
  /** The decoding functionals (default none). */
  functionals?: ReadonlyArray<Float64Array>
}

/** The results (each of length L, at points `xs`) as the decoder's working set. */
export function receive (xs: ArrayLike<number>, q: number, rows: ReadonlyArray<Float64Array>, opts: ReceiveOptions = {}): Received {
  const received = gather(xs, q, rows, opts)
  const sums = vector(received.R)
  rowSumsOfSquares(received.loaded, sums)
  setNorms(received, sums)
  return received
}

/** A Received whose norms are still to be set. */
function gather (xs: ArrayLike<number>, q: number, rows: ReadonlyArray<Float64Array>, opts: ReceiveOptions): Received {
  const R = rows.length
  const L = rows[0].length
  for (const r of rows) if (r.length !== L) throw new RangeError(`decode: results of ${r.length} and ${L} entries`)
  return { q, V: vandermonde(xs, q), R, L, rows, loaded: loadRows(rows, L), norms: vector(R), senders: opts.senders ?? null, functionals: opts.functionals ?? [] }
}

/** R × q Chebyshev–Vandermonde rows, T_k(x_i) by the recurrence of `chebValues` (the same values). */
function vandermonde (xs: ArrayLike<number>, q: number): Float64Array {
  const V = vector(xs.length * q)
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]; const o = i * q
    if (q > 0) V[o] = 1
    if (q > 1) V[o + 1] = x
    for (let k = 2; k < q; k++) V[o + k] = 2 * x * V[o + k - 1] - V[o + k - 2]
  }
  return V
}

function setNorms (received: Received, sums: Float64Array): void {
  for (let i = 0; i < received.R; i++) received.norms[i] = robustNorm(sums[i], received.rows[i], 0, received.L)
}

/**
 * The first look at R results, in one pass over them (the common case is one fit of all of
 * them that every result agrees with): the sums of squares of every result (its norm, and a
 * finiteness screen: a finite sum means every entry is finite), and — assuming all are finite —
 * the fit of all of them with its decoded outputs. When some result is not finite the fit and
 * outputs are void (`all` null); the caller receives the finite ones anew.
 */
export interface FirstLook {
  /** Every result, received (its norms set; a non-finite result's norm is not finite). */
  received: Received
  /** Per result: all its entries are finite. */
  finite: boolean[]
  /** The fit of all results, with its decode, when every result is finite and they determine the polynomial. */
  all: Fit | null
}

/** `opts.functionals`: what the fit of all results decodes to. */
export function firstLook (xs: ArrayLike<number>, q: number, rows: ReadonlyArray<Float64Array>, opts: ReceiveOptions = {}): FirstLook {
  const received = gather(xs, q, rows, opts)
  const { R } = received
  const S = Array.from({ length: R }, (_, i) => i)
  const maps = R > q ? fitMaps(received, S) : null
  const rowSums = vector(R)
  const fit = fitPass(received, maps, true, rowSums)
  setNorms(received, rowSums)
  const finite = rows.map((r, i) => Number.isFinite(rowSums[i]) || allFinite(r))
  if (fit === null || !finite.every(f => f)) return { received, finite, all: null }
  // The norms were set after the pass: the residuals are relative to the scale they give.
  return { received, finite, all: { ...fit, residual: residualsFrom(received, S, maps!.E, fit.residual) } }
}

/**
 * One pass with A = [M; E] (`decode`: the decoding map's K rows, stored — the outputs — then
 * the residual map's R rows, only their sums of squares), and the rows' own sums of squares
 * into `rowSums` when given. Returns the fit with `residual` holding the plain sums of squares
 * of E·Y's rows (the caller turns them into relative residuals), or null when `maps` is.
 */
function fitPass (received: Received, maps: { pinv: Float64Array, E: Float64Array } | null, decode: boolean, rowSums?: Float64Array): Fit | null {
  const { R, L } = received
  const K = maps !== null && decode ? received.functionals.length : 0
  const a = maps === null ? 0 : K + R
  const A = vector(a * R)
  if (maps !== null) {
    if (K > 0) A.set(outputMap(received, received.functionals, maps.pinv))
    A.set(maps.E, K * R)
  }
  const sums = vector(a)
  const out = rowPass(received.loaded, A, a, { stored: K, sumsOfSquares: a > 0 ? sums : undefined, rowSums })
  if (maps === null) return null
  const fit: Fit = { pinv: maps.pinv, residual: sums.subarray(K) }
  if (K > 0) fit.decoded = outputsFrom(out, K, L, sums.subarray(0, K))
  return fit
}

let stackScratch = new Float64Array(0)

/**
 * The results as one R × L matrix, for the sketches of the candidate search: a view of the
 * row kernels' resident copy when it is exactly that, else a scratch copy. Valid until the
 * next decode step (use it at once, do not keep it).
 */
export function stacked (received: Received): Matrix {
  const { R, L, rows } = received
  const view = residentMatrix(received.loaded)
  if (view !== null) return matrix(R, L, view)
  if (stackScratch.length < R * L) stackScratch = new Float64Array(R * L)
  const data = stackScratch.subarray(0, R * L)
  for (let i = 0; i < R; i++) data.set(rows[i], i * L)
  return matrix(R, L, data)
}

/** The norm of d[off, off + len) from its plain sum of squares `sum`: √sum where that is safe, else `rowNorm`. */
export function robustNorm (sum: number, d: Float64Array, off: number, len: number): number {
  return Number.isFinite(sum) && sum > SAFE_SUM ? Math.sqrt(sum) : rowNorm(d, off, len)
}

/** ‖d[off, off + len)‖₂, rescaled when the plain sum of squares over- or underflows. */
export function rowNorm (d: Float64Array, off: number, len: number): number {
  let s = 0
  for (let i = off; i < off + len; i++) s += d[i] * d[i]
  if (Number.isFinite(s) && s > SAFE_SUM) return Math.sqrt(s)
  let scale = 0; let ssq = 1
  for (let i = off; i < off + len; i++) {
    const v = Math.abs(d[i])
    if (v === 0) continue
    if (scale < v) { ssq = 1 + ssq * (scale / v) ** 2; scale = v } else ssq += (v / scale) ** 2
  }
  return scale * Math.sqrt(ssq)
}

/**
 * scale_S: the median of the members' norms. Robust to a minority of huge or zeroed
 * results, so a residual relative to it means the same whatever the errors did.
 */
export function setScale (norms: ArrayLike<number>, S: readonly number[]): number {
  // The median of stats.ts, on a typed array's native numeric sort (the same value for the
  // finite norms of a decode; called for every candidate of a search).
  const n = S.length
  if (n === 0) return Math.max(median([]), TINY)
  const v = vector(n)
  for (let a = 0; a < n; a++) v[a] = norms[S[a]]
  v.sort()
  const h = n >> 1
  return Math.max(n % 2 === 1 ? v[h] : 0.5 * (v[h - 1] + v[h]), TINY)
}

/** The |S| × q rows of V at the members of S. */
export function vandermondeRows (V: Float64Array, q: number, S: readonly number[]): Float64Array {
  const Vs = vector(S.length * q)
  for (let a = 0; a < S.length; a++) Vs.set(V.subarray(S[a] * q, (S[a] + 1) * q), a * q)
  return Vs
}

/** A result agrees with a fit when its relative residual is at most the tolerance (NaN never does). */
export function agrees (residual: number, tolerance: number): boolean {
  return residual <= tolerance
}

/** 1 at the members of S, 0 elsewhere, over R results. */
export function membership (R: number, S: readonly number[]): Uint8Array {
  const inS = new Uint8Array(R)
  for (const i of S) inS[i] = 1
  return inS
}

/**
 * pinv(V_S): q × |S|, or null when the rows of S do not determine the polynomial. Cached by
 * set of senders when the received set has them: a pure function of the points of S and q.
 */
export function pinvOf (received: Received, S: readonly number[]): Float64Array | null {
  const { q, V, senders } = received
  if (senders === null) return pinvTall(vandermondeRows(V, q, S), S.length, q)
  // Key, per q: the senders in S's order (pinv's columns follow it). As a bit mask when they
  // increase and are below 52 (the usual case: results arrive keyed by peer), else as a string.
  let key: number | string = 0
  let last = -1
  for (const i of S) {
    const id = senders.ids[i]
    if (id >= 52 || id <= last) { key = S.map(j => senders.ids[j]).join(','); break }
    key += 2 ** id
    last = id
  }
  let byQ = senders.cache.get(q)
  if (byQ === undefined) { byQ = new Map(); senders.cache.set(q, byQ) }
  const hit = byQ.get(key)
  if (hit !== undefined) return hit
  const ps = pinvTall(vandermondeRows(V, q, S), S.length, q)
  if (byQ.size >= PINV_CACHE_LIMIT) byQ.clear()
  byQ.set(key, ps)
  return ps
}

/** The fit of S as maps on the results: pinv (q × R, zero columns off S) and E = I − V·pinv (R × R), or null. */
function fitMaps (received: Received, S: readonly number[]): { pinv: Float64Array, E: Float64Array } | null {
  const { q, V, R } = received
  const ps = pinvOf(received, S)
  if (ps === null) return null
  const pinv = vector(q * R)
  for (let d = 0; d < q; d++) for (let a = 0; a < S.length; a++) pinv[d * R + S[a]] = ps[d * S.length + a]
  // E = I − V·pinv: (E·Y)_i is the residual row of result i; only its norm is needed.
  const E = vector(R * R)
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      let s = 0
      for (let d = 0; d < q; d++) s += V[i * q + d] * pinv[d * R + j]
      E[i * R + j] = (i === j ? 1 : 0) - s
    }
  }
  return { pinv, E }
}

/** Relative residuals of every result from the sums of squares of E·Y's rows (the scaled norm of the row itself where those are unsafe). */
function residualsFrom (received: Received, S: readonly number[], E: Float64Array, sums: ArrayLike<number>): Float64Array {
  const { R, L } = received
  const scale = setScale(received.norms, S)
  const residual = vector(R)
  for (let i = 0; i < R; i++) {
    let norm: number
    if (Number.isFinite(sums[i]) && sums[i] > SAFE_SUM) norm = Math.sqrt(sums[i])
    else {
      // Over- or underflowing squares: the residual row itself, and the scaled norm of it.
      norm = rowNorm(rowProduct(received.loaded, E.subarray(i * R, (i + 1) * R), 1), 0, L)
    }
    residual[i] = norm / scale
  }
  return residual
}

/**
 * Least-squares fit of the members of S on the full vectors; null when they do not determine
 * the polynomial. `decode`: the fit's outputs (`received.functionals`) are computed in the same
 * pass (`fit.decoded`) — for a fit that is likely to be accepted.
 */
export function fitSet (received: Received, S: readonly number[], decode = false): Fit | null {
  const maps = fitMaps(received, S)
  const fit = fitPass(received, maps, decode)
  if (fit === null) return null
  return { ...fit, residual: residualsFrom(received, S, maps!.E, fit.residual) }
}

/**
 * Confirm a candidate on the full vectors: fit S, widen to every agreeing result, refit
 * until stable (at most 4 fits). Null when a member disagrees with its own fit, or when the
 * set does not settle.
 */
export function confirm (received: Received, S: readonly number[], tolerance: number): Agreement | null {
  const { R } = received
  let members = S
  for (let round = 0; round < 4; round++) {
    const fit = fitSet(received, members, true)
    if (fit === null) return null
    const A: number[] = []
    for (let i = 0; i < R; i++) if (agrees(fit.residual[i], tolerance)) A.push(i)
    // Every member must agree with its own fit.
    const inA = membership(R, A)
    if (members.some(i => inA[i] === 0)) return null
    if (A.length === members.length) return { members: A, fit }
    members = A
  }
  return null
}

/** The decoded outputs: K views into one K × L array, that array, and √(Σ squares of all outputs) (plain, the leverage bound's scale). */
export interface Decoded {
  outputs: Float64Array[]
  data: Float64Array
  norm: number
}

/** M = F·pinv (K × R): the decoding functionals as a map on the results. */
function outputMap (received: Received, functionals: ReadonlyArray<Float64Array>, pinv: Float64Array): Float64Array {
  const { q, R } = received
  const K = functionals.length
  const M = vector(K * R)
  for (let k = 0; k < K; k++) {
    const f = functionals[k]
    for (let d = 0; d < q; d++) {
      const w = f[d]
      if (w === 0) continue
      for (let j = 0; j < R; j++) M[k * R + j] += w * pinv[d * R + j]
    }
  }
  return M
}

function outputsFrom (out: Float64Array, K: number, L: number, sums: ArrayLike<number>): Decoded {
  let ss = 0
  for (let k = 0; k < K; k++) ss += sums[k]
  return { outputs: Array.from({ length: K }, (_, k) => out.subarray(k * L, (k + 1) * L)), data: out, norm: Math.sqrt(ss) }
}

/**
 * `functionals` (each of length q, on the Chebyshev coefficients) of the polynomial fitted by
 * `pinv`: M = F·pinv (K × R), then M·Y in one pass, which also gives the outputs' norm.
 */
export function decodeOutputs (received: Received, functionals: ReadonlyArray<Float64Array>, pinv: Float64Array): Decoded {
  const { L } = received
  const K = functionals.length
  if (K === 0) return { outputs: [], data: new Float64Array(0), norm: 0 }
  const sums = vector(K)
  const out = rowProduct(received.loaded, outputMap(received, functionals, pinv), K, sums)
  return outputsFrom(out, K, L, sums)
}

/** `functionals` (each of length q, on the Chebyshev coefficients) of the polynomial fitted by `pinv`. */
export function evaluateFunctionals (received: Received, functionals: ReadonlyArray<Float64Array>, pinv: Float64Array): Float64Array[] {
  return decodeOutputs(received, functionals, pinv).outputs
}
