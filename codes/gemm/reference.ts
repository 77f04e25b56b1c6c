/** The naive triple loop: the ground truth every fast kernel is tested against. */
import type { Matrix } from '../matrix.ts'
import type { GemmOptions } from './index.ts'

export function gemmReference (a: Matrix, b: Matrix, c: Matrix, opts: GemmOptions = {}): void {
  const ta = opts.transA === true; const tb = opts.transB === true
  const alpha = opts.alpha ?? 1; const beta = opts.beta ?? 0
  const m = c.rows; const n = c.cols; const k = ta ? a.rows : a.cols
  const A = a.data; const B = b.data; const C = c.data
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0
      for (let p = 0; p < k; p++) {
        s += (ta ? A[p * a.cols + i] : A[i * a.cols + p]) * (tb ? B[j * b.cols + p] : B[p * b.cols + j])
      }
      C[i * n + j] = (beta === 0 ? 0 : beta * C[i * n + j]) + alpha * s
    }
  }
}
