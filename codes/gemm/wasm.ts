/**
 * Loader and blocking driver for the WebAssembly SIMD GEMM kernel (source: gemm.wat).
 *
 * The module is compiled synchronously from the embedded bytes (wasm-binary.ts), once per
 * process. Operands that fit in L2 are copied in raw and packed by the module (SIMD); larger
 * ones are packed from JS straight out of the caller's array (one pass). Transposes and alpha
 * are applied while packing. The WASM macro-kernel accumulates into a copy of C kept in the
 * same memory, and C is copied back once at the end. The memory only
 * grows; the packing buffers live at fixed offsets, so repeated calls allocate nothing.
 */
import { type Operand, packA6Dup, packB4 } from './pack.ts'
import { GEMM_WASM_RELAXED_BASE64, GEMM_WASM_SIMD_BASE64, RELAXED_SIMD_PROBE, SIMD_PROBE } from './wasm-binary.ts'

/** `relaxed`: f64x2.relaxed_madd (fused where the CPU has FMA); `simd`: f64x2.mul + f64x2.add. */
export type WasmGemmVariant = 'relaxed' | 'simd'

const MR = 6
const NR = 4
/** Depth of a packed block: a 6×kc duplicated A micro-panel (24 KB) stays in L1 beside the B panels streaming past. */
const KC = 256
/** Rows of a packed A block (MC·KC·16 bytes, duplicated entries). Multiple of MR. */
const MC = 120
/** Columns of a packed B block (KC·NC·8 bytes = 1 MB, in the 2 MB L2 it streams from). Multiple of NR. */
const NC = 512
const PAGE = 65536
/** Scratch 6×4 tile for the edge tiles, at address 0. */
const TMP_BYTES = 256
/**
 * Operands up to this many entries are copied in raw and packed by the module; larger ones are
 * packed from JS straight out of the caller's array. The raw copy is one memcpy and the WASM
 * packing is several times faster than JS, but for an operand that does not fit in L2 the extra
 * round trip through memory costs more than it saves (measured: 1024×1024·1024×32).
 */
export const RAW_COPY_MAX_ENTRIES = 1 << 18
/** wasm32 memory limit (65536 pages), less one page of slack. */
const MAX_BYTES = 65535 * PAGE

interface KernelExports {
  memory: WebAssembly.Memory
  macro: (mc: number, nc: number, kc: number, pa: number, pb: number, pc: number, ldc: number, tmp: number) => void
  packA: (src: number, si: number, sp: number, mc: number, kc: number, alpha: number, dst: number) => void
  packB: (src: number, sp: number, sj: number, kc: number, nc: number, dst: number) => void
}

export class WasmGemmUnavailableError extends Error {
  override name = 'WasmGemmUnavailableError'
}

/** Whether this engine validates the features the variant needs. */
export function wasmGemmVariantSupported (variant: WasmGemmVariant): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(variant === 'relaxed' ? RELAXED_SIMD_PROBE : SIMD_PROBE)
  } catch {
    return false
  }
}

/** The best variant this engine supports, or undefined without WASM SIMD. */
export function bestWasmGemmVariant (): WasmGemmVariant | undefined {
  if (wasmGemmVariantSupported('relaxed')) return 'relaxed'
  if (wasmGemmVariantSupported('simd')) return 'simd'
  return undefined
}

function decodeBase64 (text: string): Uint8Array {
  const bin = atob(text)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

const compiled = new Map<WasmGemmVariant, WebAssembly.Module>()

function compile (variant: WasmGemmVariant): WebAssembly.Module {
  let mod = compiled.get(variant)
  if (mod === undefined) {
    if (!wasmGemmVariantSupported(variant)) throw new WasmGemmUnavailableError(`this engine does not support WebAssembly ${variant === 'relaxed' ? 'relaxed SIMD' : 'SIMD'}`)
    mod = new WebAssembly.Module(decodeBase64(variant === 'relaxed' ? GEMM_WASM_RELAXED_BASE64 : GEMM_WASM_SIMD_BASE64) as Uint8Array<ArrayBuffer>)
    compiled.set(variant, mod)
  }
  return mod
}

/**
 * A fresh instance of the kernel module, with its own memory: the row kernels of the decoders
 * (rows.ts) keep their operands resident in one, apart from the GEMM's packing buffers.
 */
export function instantiateKernels (variant: WasmGemmVariant): WebAssembly.Instance {
  return new WebAssembly.Instance(compile(variant), {})
}

/** The depth blocks `run` splits an inner dimension k into (row kernels that reproduce its sums use the same). */
export function gemmDepthBlock (k: number): number {
  return chunk(Math.max(k, 1), KC, 1)
}

/** Split `total` into the fewest chunks of at most `max`, as even as possible, rounded up to `unit`. */
function chunk (total: number, max: number, unit: number): number {
  const parts = Math.ceil(total / max)
  return Math.min(max, Math.ceil(Math.ceil(total / parts) / unit) * unit)
}

/** One WASM kernel instance with its own memory. Not re-entrant (it is synchronous anyway). */
export class WasmGemm {
  readonly variant: WasmGemmVariant
  private readonly exports: KernelExports
  private heap: Float64Array

  private readonly rawCopyMax: number

  constructor (variant: WasmGemmVariant, opts: { rawCopyMaxEntries?: number } = {}) {
    this.variant = variant
    this.rawCopyMax = opts.rawCopyMaxEntries ?? RAW_COPY_MAX_ENTRIES
    const instance = instantiateKernels(variant)
    this.exports = instance.exports as unknown as KernelExports
    this.heap = new Float64Array(this.exports.memory.buffer)
  }

  /** Bytes of WASM memory a product of this shape needs. */
  static bytesNeeded (m: number, n: number, k: number): number {
    const kc = Math.min(KC, k); const nc = Math.min(NC, Math.ceil(n / NR) * NR); const mc = Math.min(MC, Math.ceil(m / MR) * MR)
    const raw = (m * k <= RAW_COPY_MAX_ENTRIES ? m * k : 0) + (k * n <= RAW_COPY_MAX_ENTRIES ? k * n : 0)
    return TMP_BYTES + kc * nc * 8 + mc * kc * 16 + (m * n + raw) * 8
  }

  /** Whether the product fits in a wasm32 memory. */
  static fits (m: number, n: number, k: number): boolean {
    return WasmGemm.bytesNeeded(m, n, k) <= MAX_BYTES
  }

  private ensure (bytes: number): Float64Array {
    const have = this.exports.memory.buffer.byteLength
    if (bytes > have) {
      if (bytes > MAX_BYTES) throw new RangeError(`gemm: ${bytes} bytes exceed the WebAssembly memory limit`)
      this.exports.memory.grow(Math.ceil((bytes - have) / PAGE))
    }
    if (this.heap.buffer !== this.exports.memory.buffer) this.heap = new Float64Array(this.exports.memory.buffer)
    return this.heap
  }

  /** C[m×n] (row-major, dense) = alpha·op(A)·op(B) + beta·C; beta 0 ignores C's old contents. */
  run (m: number, n: number, k: number, a: Operand, b: Operand, alpha: number, beta: number, C: Float64Array): void {
    if (m === 0 || n === 0) return
    const kcMax = chunk(Math.max(k, 1), KC, 1)
    const ncMax = chunk(n, NC, NR)
    const mcMax = chunk(m, MC, MR)
    const offB = TMP_BYTES
    const offA = offB + kcMax * Math.ceil(ncMax / NR) * NR * 8
    const offC = offA + Math.ceil(mcMax / MR) * MR * kcMax * 16
    const aRaw = m * k <= this.rawCopyMax; const bRaw = k * n <= this.rawCopyMax
    const offARaw = offC + m * n * 8
    const offBRaw = offARaw + (aRaw ? m * k * 8 : 0)
    const heap = this.ensure(offBRaw + (bRaw ? k * n * 8 : 0))
    if (aRaw) heap.set(a.data.subarray(0, m * k), offARaw / 8)
    if (bRaw) heap.set(b.data.subarray(0, k * n), offBRaw / 8)
    const c0 = offC / 8
    const cView = heap.subarray(c0, c0 + m * n)
    if (beta === 0) cView.fill(0)
    else if (beta === 1) cView.set(C)
    else for (let i = 0; i < m * n; i++) cView[i] = beta * C[i]
    // Byte strides of op(A)[i][p] along i and p, and of op(B)[p][j] along p and j.
    const aSi = a.trans ? 8 : a.ld * 8; const aSp = a.trans ? a.ld * 8 : 8
    const bSp = b.trans ? 8 : b.ld * 8; const bSj = b.trans ? b.ld * 8 : 8
    const { macro, packA, packB } = this.exports
    const ldc = n * 8
    for (let j0 = 0; j0 < n; j0 += ncMax) {
      const nc = Math.min(ncMax, n - j0)
      for (let p0 = 0; p0 < k; p0 += kcMax) {
        const kc = Math.min(kcMax, k - p0)
        if (bRaw) packB(offBRaw + p0 * bSp + j0 * bSj, bSp, bSj, kc, nc, offB)
        else packB4(heap, offB / 8, b, p0, kc, j0, nc)
        for (let i0 = 0; i0 < m; i0 += mcMax) {
          const mc = Math.min(mcMax, m - i0)
          if (aRaw) packA(offARaw + i0 * aSi + p0 * aSp, aSi, aSp, mc, kc, alpha, offA)
          else packA6Dup(heap, offA / 8, a, i0, mc, p0, kc, alpha)
          macro(mc, nc, kc, offA, offB, offC + (i0 * n + j0) * 8, ldc, 0)
        }
      }
    }
    C.set(cView)
  }
}
