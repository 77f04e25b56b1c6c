/**
 * Pure-JS GEMM: the fallback where WebAssembly SIMD is unavailable, and the small-product path.
 *
 * Same blocking as the WASM kernel (packed A and B blocks, register tile), with a 4×4 tile of
 * scalar accumulators: V8 keeps them in registers and the packed panels make every load
 * sequential. Writes straight into the caller's C, so it needs no copies beyond the packing.
 */
import { type Operand, packA4, packB4 } from './pack.ts'

const MR = 4
const NR = 4
const KC = 256
const MC = 64

let packedA = new Float64Array(MC * KC)
let packedB = new Float64Array(0)

/** C[m×n] (row stride ldc) += alpha·op(A)·op(B). */
export function gemmJsAccumulate (m: number, n: number, k: number, a: Operand, b: Operand, alpha: number, C: Float64Array, ldc: number): void {
  if (m === 0 || n === 0 || k === 0) return
  const nPadded = Math.ceil(n / NR) * NR
  if (packedB.length < Math.min(k, KC) * nPadded) packedB = new Float64Array(Math.min(k, KC) * nPadded)
  if (packedA.length < MC * KC) packedA = new Float64Array(MC * KC)
  const pa = packedA; const pb = packedB
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = Math.min(KC, k - p0)
    packB4(pb, 0, b, p0, kc, 0, n)
    for (let i0 = 0; i0 < m; i0 += MC) {
      const mc = Math.min(MC, m - i0)
      packA4(pa, 0, a, i0, mc, p0, kc, alpha)
      for (let j = 0; j < n; j += NR) {
        const nv = Math.min(NR, n - j)
        for (let i = 0; i < mc; i += MR) {
          micro4x4(kc, pa, i * kc, pb, j * kc, C, (i0 + i) * ldc + j, ldc, Math.min(MR, mc - i), nv)
        }
      }
    }
  }
}

function micro4x4 (kc: number, pa: Float64Array, ia: number, pb: Float64Array, ib: number, C: Float64Array, ic: number, ldc: number, mv: number, nv: number): void {
  let c00 = 0; let c01 = 0; let c02 = 0; let c03 = 0
  let c10 = 0; let c11 = 0; let c12 = 0; let c13 = 0
  let c20 = 0; let c21 = 0; let c22 = 0; let c23 = 0
  let c30 = 0; let c31 = 0; let c32 = 0; let c33 = 0
  for (let p = 0; p < kc; p++, ia += 4, ib += 4) {
    const a0 = pa[ia]; const a1 = pa[ia + 1]; const a2 = pa[ia + 2]; const a3 = pa[ia + 3]
    const b0 = pb[ib]; const b1 = pb[ib + 1]; const b2 = pb[ib + 2]; const b3 = pb[ib + 3]
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3
  }
  if (mv === 4 && nv === 4) {
    C[ic] += c00; C[ic + 1] += c01; C[ic + 2] += c02; C[ic + 3] += c03; ic += ldc
    C[ic] += c10; C[ic + 1] += c11; C[ic + 2] += c12; C[ic + 3] += c13; ic += ldc
    C[ic] += c20; C[ic + 1] += c21; C[ic + 2] += c22; C[ic + 3] += c23; ic += ldc
    C[ic] += c30; C[ic + 1] += c31; C[ic + 2] += c32; C[ic + 3] += c33
    return
  }
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33]
  for (let r = 0; r < mv; r++) {
    for (let c = 0; c < nv; c++) C[ic + r * ldc + c] += tile[r * 4 + c]
  }
}
