/**
 * Small dense linear algebra for the coding layer: a Householder least-squares
 * pseudo-inverse for the hot path (tiny systems, thousands of times per decode search),
 * and SVD-based null spaces / least squares (ml-matrix) for the one-off code derivation.
 */
import { Matrix as MlMatrix, SVD } from 'ml-matrix'

/**
 * Pseudo-inverse of a tall row-major r × c matrix (r ≥ c) via Householder QR:
 * returns the c × r matrix X with X·A = I, or null when A is numerically rank deficient
 * (|R_jj| < 1e-13 · max |R_ii|).
 */
export function pinvTall (a: ArrayLike<number>, r: number, c: number): Float64Array | null {
  if (r < c) return null
  const R = Float64Array.from(a)
  // Qt starts as I (r × r) and accumulates Hc···H1.
  const Qt = new Float64Array(r * r)
  for (let i = 0; i < r; i++) Qt[i * r + i] = 1
  const v = new Float64Array(r)
  for (let j = 0; j < c; j++) {
    let norm = 0
    for (let i = j; i < r; i++) norm = Math.hypot(norm, R[i * c + j])
    if (norm === 0) return null
    const alpha = R[j * c + j] > 0 ? -norm : norm
    for (let i = j; i < r; i++) v[i] = R[i * c + j]
    v[j] -= alpha
    let vv = 0
    for (let i = j; i < r; i++) vv += v[i] * v[i]
    if (vv === 0) continue
    const beta = 2 / vv
    for (let k = j; k < c; k++) {
      let s = 0
      for (let i = j; i < r; i++) s += v[i] * R[i * c + k]
      s *= beta
      for (let i = j; i < r; i++) R[i * c + k] -= s * v[i]
    }
    for (let k = 0; k < r; k++) {
      let s = 0
      for (let i = j; i < r; i++) s += v[i] * Qt[i * r + k]
      s *= beta
      for (let i = j; i < r; i++) Qt[i * r + k] -= s * v[i]
    }
  }
  let dmax = 0
  for (let j = 0; j < c; j++) dmax = Math.max(dmax, Math.abs(R[j * c + j]))
  for (let j = 0; j < c; j++) if (!(Math.abs(R[j * c + j]) >= 1e-13 * dmax)) return null
  // Back substitution R X = Qt[0..c).
  const X = new Float64Array(c * r)
  for (let j = c - 1; j >= 0; j--) {
    const d = R[j * c + j]
    for (let k = 0; k < r; k++) {
      let s = Qt[j * r + k]
      for (let l = j + 1; l < c; l++) s -= R[j * c + l] * X[l * r + k]
      X[j * r + k] = s / d
    }
  }
  return X
}

function toMl (rows: ReadonlyArray<ArrayLike<number>>, cols: number, padRows = 0): MlMatrix {
  const m = new MlMatrix(Math.max(rows.length, padRows), cols)
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < cols; j++) m.set(i, j, rows[i][j])
  return m
}

/**
 * Orthonormal basis of the null space of a matrix given by rows (each of length cols):
 * right singular vectors whose singular values are ≤ relTol · σ_max. The matrix is padded
 * with zero rows to be square so the SVD returns a full set of right singular vectors.
 */
export function nullspace (rows: ReadonlyArray<ArrayLike<number>>, cols: number, relTol = 1e-10): Float64Array[] {
  if (rows.length === 0) return Array.from({ length: cols }, (_, i) => { const e = new Float64Array(cols); e[i] = 1; return e })
  const m = toMl(rows, cols, cols)
  const svd = new SVD(m, { autoTranspose: false })
  const s = svd.diagonal
  const V = svd.rightSingularVectors
  const smax = s[0]
  const out: Float64Array[] = []
  for (let k = 0; k < cols; k++) {
    if (!(s[k] > relTol * smax)) out.push(Float64Array.from(V.getColumn(k)))
  }
  return out
}

/** Orthonormal basis (as columns, returned as vectors) of the column span, rank by relTol. */
export function columnSpan (cols: ReadonlyArray<ArrayLike<number>>, length: number, relTol = 1e-10): Float64Array[] {
  // Matrix with the vectors as columns: length × cols.length.
  const rows = Array.from({ length }, (_, i) => cols.map(c => c[i]))
  const m = toMl(rows, cols.length, cols.length)
  const svd = new SVD(m, { autoTranspose: false })
  const s = svd.diagonal
  const U = svd.leftSingularVectors
  const out: Float64Array[] = []
  for (let k = 0; k < s.length; k++) {
    if (s[k] > relTol * s[0]) out.push(Float64Array.from(U.getColumn(k).slice(0, length)))
  }
  return out
}

/** Least squares min ‖A x − b‖ (SVD, any shape); returns x and the residual norm. */
export function leastSquares (rows: ReadonlyArray<ArrayLike<number>>, cols: number, b: ArrayLike<number>): { x: Float64Array, residual: number } {
  const A = toMl(rows, cols)
  const svd = new SVD(A, { autoTranspose: true })
  const x = svd.solve(MlMatrix.columnVector(Array.from(b))).getColumn(0)
  let res = 0
  for (let i = 0; i < rows.length; i++) {
    let s = -b[i]
    for (let j = 0; j < cols; j++) s += rows[i][j] * x[j]
    res = Math.hypot(res, s)
  }
  return { x: Float64Array.from(x), residual: res }
}

/** Inverse of a small square matrix given by rows (ml-matrix LU); null when singular. */
export function invertSmall (rows: ReadonlyArray<ArrayLike<number>>): Float64Array[] | null {
  const n = rows.length
  const svd = new SVD(toMl(rows, n), { autoTranspose: false })
  const s = svd.diagonal
  if (!(s[n - 1] > 1e-12 * s[0])) return null
  const inv = svd.inverse()
  return Array.from({ length: n }, (_, i) => Float64Array.from(inv.getRow(i)))
}
