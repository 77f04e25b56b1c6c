/**
 * Full-vector least-squares fits of the decoder (codes/decode.ts): fit the polynomial to a
 * set S of received results, judge every result by its relative residual against that fit,
 * and confirm a candidate set by widening it to every agreeing result.
 *
 * Sets are index lists into the received (finite) results, in increasing order.
 */
import { gemm } from '../gemm/index.ts'
import { type Matrix, zeros } from '../matrix.ts'
import { chebVandermonde } from '../chebyshev.ts'
import { pinvTall } from '../linalg.ts'
import { median } from '../stats.ts'

/** The finite results a decode works on: R rows of length L, received at R points. */
export interface Received {
  /** The polynomial has degree < q. */
  q: number
  /** R × q Chebyshev Vandermonde matrix at the senders' points. */
  V: Float64Array
  /** R × L: one result per row. */
  Y: Matrix
  /** ‖y_i‖₂ of every row of Y. */
  norms: Float64Array
}

export interface Fit {
  /** q × R pseudo-inverse with zero columns for non-members. */
  pinv: Float64Array
  /** Relative residual of every received (finite) result. */
  residual: Float64Array
}

/** A confirmed set: its members (every result that agrees with their fit) and that fit. */
export interface Agreement {
  members: number[]
  fit: Fit
}

/** Floor of a set's scale, so that a set of zero results divides by something. */
const TINY = 1e-300

/** Stacks `rows` (each of length L, at points `xs`) into the decoder's working matrices. */
export function receive (xs: ArrayLike<number>, q: number, rows: ReadonlyArray<Float64Array>): Received {
  const R = rows.length
  const L = rows[0].length
  const Y = zeros(R, L)
  for (let i = 0; i < R; i++) Y.data.set(rows[i], i * L)
  const norms = new Float64Array(R)
  for (let i = 0; i < R; i++) norms[i] = rowNorm(Y.data, i * L, L)
  return { q, V: chebVandermonde(xs, q), Y, norms }
}

/** ‖d[off, off + len)‖₂, rescaled when the plain sum of squares over- or underflows. */
export function rowNorm (d: Float64Array, off: number, len: number): number {
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

/**
 * scale_S: the median of the members' norms. Robust to a minority of huge or zeroed
 * results, so a residual relative to it means the same whatever the errors did.
 */
export function setScale (norms: ArrayLike<number>, S: readonly number[]): number {
  return Math.max(median(S.map(i => norms[i])), TINY)
}

/** The |S| × q rows of V at the members of S. */
export function vandermondeRows (V: Float64Array, q: number, S: readonly number[]): Float64Array {
  const Vs = new Float64Array(S.length * q)
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

/** Least-squares fit of the members of S on the full vectors; null when they do not determine the polynomial. */
export function fitSet (received: Received, S: readonly number[]): Fit | null {
  const { q, V, Y, norms } = received
  const R = Y.rows
  const L = Y.cols
  const ps = pinvTall(vandermondeRows(V, q, S), S.length, q)
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
  const scale = setScale(norms, S)
  const residual = new Float64Array(R)
  for (let i = 0; i < R; i++) residual[i] = rowNorm(res.data, i * L, L) / scale
  return { pinv, residual }
}

/**
 * Confirm a candidate on the full vectors: fit S, widen to every agreeing result, refit
 * until stable (at most 4 fits). Null when a member disagrees with its own fit, or when the
 * set does not settle.
 */
export function confirm (received: Received, S: readonly number[], tolerance: number): Agreement | null {
  const R = received.Y.rows
  let members = S
  for (let round = 0; round < 4; round++) {
    const fit = fitSet(received, members)
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

/** `functionals` (each of length q, on the Chebyshev coefficients) of the polynomial fitted by `pinv`. */
export function evaluateFunctionals (received: Received, functionals: ReadonlyArray<Float64Array>, pinv: Float64Array): Float64Array[] {
  const { q, Y } = received
  const R = Y.rows
  const L = Y.cols
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
