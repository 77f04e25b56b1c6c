/**
 * GEMM entry point: C = alpha · op(A) · op(B) + beta · C on row-major float64 matrices.
 *
 * The hot path of every peer. The kernel behind it is chosen once at load time
 * (WASM SIMD where the engine validates it, JS otherwise); callers never pick.
 * `CODENET_GEMM=js|wasm` in the environment forces one (tests of both paths, benchmarks).
 */
import { type Matrix, ShapeError, zeros } from '../matrix.ts'
import { gemmJsAccumulate } from './js.ts'
import type { Operand } from './pack.ts'
import { gemmReference } from './reference.ts'
import { WasmGemm, WasmGemmUnavailableError, bestWasmGemmVariant } from './wasm.ts'

export { WasmGemm, WasmGemmUnavailableError, bestWasmGemmVariant, wasmGemmVariantSupported, type WasmGemmVariant } from './wasm.ts'

export interface GemmOptions {
  /** Use Aᵀ instead of A. */
  transA?: boolean
  /** Use Bᵀ instead of B. */
  transB?: boolean
  alpha?: number
  /** Only read when an output matrix is passed. */
  beta?: number
}

/** `wasm`: the SIMD kernel (best variant); `js`: the tiled JS kernel; `reference`: the naive loop. */
export type GemmKernelKind = 'wasm' | 'js' | 'reference'

export class GemmConfigError extends Error {
  override name = 'GemmConfigError'
}

export function gemmShape (a: Matrix, b: Matrix, opts: GemmOptions = {}): { m: number, k: number, n: number } {
  const m = opts.transA === true ? a.cols : a.rows
  const k = opts.transA === true ? a.rows : a.cols
  const kb = opts.transB === true ? b.cols : b.rows
  const n = opts.transB === true ? b.rows : b.cols
  if (k !== kb) throw new ShapeError(`gemm: inner dimensions ${k} and ${kb} differ`)
  return { m, k, n }
}

const forced = readForcedKernel()
const wasmVariant = forced === 'js' || forced === 'reference' ? undefined : bestWasmGemmVariant()
let wasmKernel: WasmGemm | undefined

function readForcedKernel (): GemmKernelKind | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.CODENET_GEMM
  if (value === undefined || value === '' || value === 'auto') return undefined
  if (value === 'wasm' || value === 'js' || value === 'reference') return value
  throw new GemmConfigError(`CODENET_GEMM=${value}: expected wasm, js, reference or auto`)
}

function wasm (): WasmGemm {
  if (wasmKernel === undefined) {
    if (wasmVariant === undefined) throw new WasmGemmUnavailableError('WebAssembly SIMD is not available in this engine')
    wasmKernel = new WasmGemm(wasmVariant)
  }
  return wasmKernel
}

/**
 * Below this many multiply-adds (m·n·k) the JS kernel is used even when WASM is available:
 * copying C in and out of WASM memory costs more than the SIMD gains on tiny products.
 */
export const WASM_MIN_WORK = 512

/**
 * The kernel `gemm` uses for an m×k by k×n product. The decoders' row kernels (rows.ts) follow
 * the same choice, so their products are bit for bit what `gemm` would return.
 */
export function gemmKernelFor (m: number, n: number, k: number): GemmKernelKind {
  return chooseKernel(m, n, k)
}

function chooseKernel (m: number, n: number, k: number): GemmKernelKind {
  if (forced !== undefined) return forced
  if (wasmVariant === undefined || m * n * k < WASM_MIN_WORK || !WasmGemm.fits(m, n, k)) return 'js'
  return 'wasm'
}

/** C = alpha·op(A)·op(B) + beta·C; allocates C when not given (then beta is ignored). */
export function gemm (a: Matrix, b: Matrix, c?: Matrix, opts: GemmOptions = {}): Matrix {
  const { m, k, n } = gemmShape(a, b, opts)
  return gemmWith(chooseKernel(m, n, k), a, b, c, opts)
}

/** `gemm` on a chosen kernel (benchmarks, tests); throws WasmGemmUnavailableError when it cannot run. */
export function gemmWith (kernel: GemmKernelKind, a: Matrix, b: Matrix, c?: Matrix, opts: GemmOptions = {}): Matrix {
  const { m, k, n } = gemmShape(a, b, opts)
  const out = c ?? zeros(m, n)
  if (out.rows !== m || out.cols !== n) throw new ShapeError(`gemm: output is ${out.rows}x${out.cols}, expected ${m}x${n}`)
  const alpha = opts.alpha ?? 1
  const beta = c === undefined ? 0 : (opts.beta ?? 0)
  if (kernel === 'reference') {
    gemmReference(a, b, out, { ...opts, alpha, beta })
    return out
  }
  // The fast kernels read A and B while C is being written: give them private copies if they overlap.
  const A: Operand = { data: overlaps(a.data, out.data) ? a.data.slice() : a.data, ld: a.cols, trans: opts.transA === true }
  const B: Operand = { data: overlaps(b.data, out.data) ? b.data.slice() : b.data, ld: b.cols, trans: opts.transB === true }
  if (kernel === 'wasm') {
    wasm().run(m, n, k, A, B, alpha, beta, out.data)
    return out
  }
  const C = out.data
  if (beta === 0) C.fill(0)
  else if (beta !== 1) for (let i = 0; i < C.length; i++) C[i] *= beta
  gemmJsAccumulate(m, n, k, A, B, alpha, C, n)
  return out
}

function overlaps (x: Float64Array, y: Float64Array): boolean {
  if (x.buffer !== y.buffer) return false
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength
}

/** Name of the kernel `gemm` uses for large products, for benchmarks and logs. */
export function gemmKernelName (): string {
  if (forced === 'reference') return 'js-reference'
  if (forced === 'js' || wasmVariant === undefined) return 'js-tiled'
  return wasmVariant === 'relaxed' ? 'wasm-simd-relaxed-fma' : 'wasm-simd'
}

/** Which kernels can run here (for benchmarks): `wasm` only with WASM SIMD. */
export function availableGemmKernels (): GemmKernelKind[] {
  return bestWasmGemmVariant() === undefined ? ['js', 'reference'] : ['wasm', 'js', 'reference']
}
