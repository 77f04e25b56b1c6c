/**
 * Packing of op(A) and op(B) blocks into the contiguous micro-panels the kernels stream through
 * (GotoBLAS/BLIS style). Transposes and alpha are applied here, once per element, so the
 * kernels only ever see one layout. Edge panels are zero-padded to full tiles.
 *
 * A micro-panel of `mr` rows: for each p < kc, the mr entries alpha·op(A)[i0+q+r][p0+p], r < mr.
 * B micro-panel of `nr` columns: for each p < kc, the nr entries op(B)[p0+p][j0+t+c], c < nr.
 */

/** Rows of the stored matrix packed at a time when packing down columns (see packB4Rows). */
const P_ROWS = 16

/** Where a matrix operand lives: row-major data, leading dimension, and whether op() transposes. */
export interface Operand {
  data: Float64Array
  /** Row stride of `data` (its number of columns). */
  ld: number
  trans: boolean
}

/**
 * Pack rows [i0, i0+mc) × cols [p0, p0+kc) of alpha·op(A) into ceil(mc/6) micro-panels of 6 rows,
 * each entry stored twice (the WASM kernel's broadcast is then a plain 16-byte load):
 * 12·kc doubles per panel, starting at dst[off].
 */
export function packA6Dup (dst: Float64Array, off: number, a: Operand, i0: number, mc: number, p0: number, kc: number, alpha: number): void {
  const A = a.data; const lda = a.ld
  for (let q = 0; q < mc; q += 6) {
    let d = off + 2 * q * kc
    const rows = Math.min(6, mc - q)
    if (rows === 6 && !a.trans) {
      const s0 = (i0 + q) * lda + p0; const s1 = s0 + lda; const s2 = s1 + lda
      const s3 = s2 + lda; const s4 = s3 + lda; const s5 = s4 + lda
      for (let p = 0; p < kc; p++, d += 12) {
        const x0 = alpha * A[s0 + p]; const x1 = alpha * A[s1 + p]; const x2 = alpha * A[s2 + p]
        const x3 = alpha * A[s3 + p]; const x4 = alpha * A[s4 + p]; const x5 = alpha * A[s5 + p]
        dst[d] = x0; dst[d + 1] = x0; dst[d + 2] = x1; dst[d + 3] = x1; dst[d + 4] = x2; dst[d + 5] = x2
        dst[d + 6] = x3; dst[d + 7] = x3; dst[d + 8] = x4; dst[d + 9] = x4; dst[d + 10] = x5; dst[d + 11] = x5
      }
    } else if (rows === 6) {
      continue // packed below, row-block by row-block
    } else {
      // Bottom edge: fewer than 6 rows left, the rest of the panel is zeros.
      for (let p = 0; p < kc; p++, d += 12) {
        for (let r = 0; r < 6; r++) {
          const x = r < rows ? alpha * (a.trans ? A[(p0 + p) * lda + i0 + q + r] : A[(i0 + q + r) * lda + p0 + p]) : 0
          dst[d + 2 * r] = x; dst[d + 2 * r + 1] = x
        }
      }
    }
  }
  if (a.trans) packA6DupTransRows(dst, off, A, lda, i0, mc - (mc % 6), p0, kc, alpha)
}

/** The full panels of a transposed A, P_ROWS rows of the stored A at a time (see packB4Rows). */
function packA6DupTransRows (dst: Float64Array, off: number, A: Float64Array, lda: number, i0: number, mcFull: number, p0: number, kc: number, alpha: number): void {
  for (let pb = 0; pb < kc; pb += P_ROWS) {
    const pe = Math.min(kc, pb + P_ROWS)
    for (let q = 0; q < mcFull; q += 6) {
      let d = off + 2 * q * kc + pb * 12
      let s = (p0 + pb) * lda + i0 + q
      for (let p = pb; p < pe; p++, d += 12, s += lda) {
        const x0 = alpha * A[s]; const x1 = alpha * A[s + 1]; const x2 = alpha * A[s + 2]
        const x3 = alpha * A[s + 3]; const x4 = alpha * A[s + 4]; const x5 = alpha * A[s + 5]
        dst[d] = x0; dst[d + 1] = x0; dst[d + 2] = x1; dst[d + 3] = x1; dst[d + 4] = x2; dst[d + 5] = x2
        dst[d + 6] = x3; dst[d + 7] = x3; dst[d + 8] = x4; dst[d + 9] = x4; dst[d + 10] = x5; dst[d + 11] = x5
      }
    }
  }
}

/** Pack rows [i0, i0+mc) × cols [p0, p0+kc) of alpha·op(A) into micro-panels of 4 rows: 4·kc doubles each. */
export function packA4 (dst: Float64Array, off: number, a: Operand, i0: number, mc: number, p0: number, kc: number, alpha: number): void {
  const A = a.data; const lda = a.ld
  for (let q = 0; q < mc; q += 4) {
    let d = off + q * kc
    const rows = Math.min(4, mc - q)
    if (rows === 4 && !a.trans) {
      const s0 = (i0 + q) * lda + p0; const s1 = s0 + lda; const s2 = s1 + lda; const s3 = s2 + lda
      for (let p = 0; p < kc; p++, d += 4) {
        dst[d] = alpha * A[s0 + p]; dst[d + 1] = alpha * A[s1 + p]; dst[d + 2] = alpha * A[s2 + p]; dst[d + 3] = alpha * A[s3 + p]
      }
    } else if (rows === 4) {
      let s = p0 * lda + i0 + q
      for (let p = 0; p < kc; p++, d += 4, s += lda) {
        dst[d] = alpha * A[s]; dst[d + 1] = alpha * A[s + 1]; dst[d + 2] = alpha * A[s + 2]; dst[d + 3] = alpha * A[s + 3]
      }
    } else {
      for (let p = 0; p < kc; p++, d += 4) {
        for (let r = 0; r < 4; r++) {
          dst[d + r] = r < rows ? alpha * (a.trans ? A[(p0 + p) * lda + i0 + q + r] : A[(i0 + q + r) * lda + p0 + p]) : 0
        }
      }
    }
  }
}

/** Pack rows [p0, p0+kc) × cols [j0, j0+nc) of op(B) into micro-panels of 4 columns: 4·kc doubles each. */
export function packB4 (dst: Float64Array, off: number, b: Operand, p0: number, kc: number, j0: number, nc: number): void {
  const B = b.data; const ldb = b.ld
  for (let t = 0; t < nc; t += 4) {
    let d = off + t * kc
    const cols = Math.min(4, nc - t)
    if (cols === 4 && !b.trans) {
      continue // packed below, row-block by row-block
    } else if (cols === 4) {
      const s0 = (j0 + t) * ldb + p0; const s1 = s0 + ldb; const s2 = s1 + ldb; const s3 = s2 + ldb
      for (let p = 0; p < kc; p++, d += 4) {
        dst[d] = B[s0 + p]; dst[d + 1] = B[s1 + p]; dst[d + 2] = B[s2 + p]; dst[d + 3] = B[s3 + p]
      }
    } else {
      // Right edge: fewer than 4 columns left, the rest of the panel is zeros.
      for (let p = 0; p < kc; p++, d += 4) {
        for (let c = 0; c < 4; c++) {
          dst[d + c] = c < cols ? (b.trans ? B[(j0 + t + c) * ldb + p0 + p] : B[(p0 + p) * ldb + j0 + t + c]) : 0
        }
      }
    }
  }
  if (!b.trans) packB4Rows(dst, off, B, ldb, p0, kc, j0, nc - (nc % 4))
}

/**
 * The full panels of an untransposed B, P_ROWS rows of B at a time across all panels. Going down
 * one panel for all kc rows would step by ldb, and with a power-of-two ldb every row lands in the
 * same L1 set: each load then misses. A few rows at a time keep their cache lines resident.
 */
function packB4Rows (dst: Float64Array, off: number, B: Float64Array, ldb: number, p0: number, kc: number, j0: number, ncFull: number): void {
  for (let pb = 0; pb < kc; pb += P_ROWS) {
    const pe = Math.min(kc, pb + P_ROWS)
    for (let t = 0; t < ncFull; t += 4) {
      let d = off + t * kc + pb * 4
      let s = (p0 + pb) * ldb + j0 + t
      for (let p = pb; p < pe; p++, d += 4, s += ldb) {
        dst[d] = B[s]; dst[d + 1] = B[s + 1]; dst[d + 2] = B[s + 2]; dst[d + 3] = B[s + 3]
      }
    }
  }
}
