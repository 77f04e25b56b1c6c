/**
 * Row kernel for the decoders: small products Z = A·Y over a few long rows (A is a × R with R
 * a few dozen results at most; Y is R × L with L up to a whole shard), keeping of Z only what
 * is asked for — some rows, and/or the sums of squares of its rows — and, in the same pass, the
 * sums of squares of Y's own rows.
 *
 * A decode multiplies the same R results by several small matrices (the residual map of a
 * fit, the decoding functionals, the fits of the search's candidates). The results are copied
 * once into a WebAssembly memory of their own and stay there (`loadRows`; the copy is made
 * column chunk by column chunk, each chunk used while it is still in cache), and each product
 * is one pass over them, with no packing and no R × L output when only norms are needed.
 * The GEMM would copy, pack and write R × L for each product.
 *
 * The kernel memory only grows, to the largest decode seen (R·L doubles plus the stored rows).
 *
 * Bit for bit: every stored entry of Z is Σ_j A_ij·Y_jt accumulated in j order from zero with
 * the kernel `gemm(A, Y)` would use (`gemmKernelFor`: the WASM FMA chain, or the JS
 * multiply-add loop), so a stored product equals the GEMM's. Sums of squares are accumulated
 * in SIMD lanes, not in the order of a sequential loop (a few ulps apart); callers that need
 * a norm robust to over- and underflow fall back to a scaled loop outside the safe range
 * (`robustNorm`, codes/decode/fit.ts).
 */
import { gemmKernelFor } from './index.ts'
import { bestWasmGemmVariant, gemmDepthBlock, instantiateKernels } from './wasm.ts'

interface RowExports {
  memory: WebAssembly.Memory
  rows: (groups: number, gs: number, r: number, n8: number, pa: number, py: number, ldy: number, pz: number, ldz: number, ps: number, pn: number) => void
  dots: (groups: number, py: number, prow: number, L: number, kc: number, pg: number, pd: number) => void
}

const PAGE = 65536
/** wasm32 memory limit (65536 pages), less one page of slack. */
const MAX_BYTES = 65535 * PAGE
/** Below this many entries the sums of squares of the rows alone are a JS loop (no copy). */
const WASM_MIN_ENTRIES = 512
/** Columns copied in per chunk: about this many bytes of Y, so a chunk is still in L2 when the kernel reads it. */
const CHUNK_BYTES = 1 << 17

/** The rows of one decode; copied into kernel memory when a product first needs the WASM kernel. */
export interface LoadedRows {
  /** R. */
  readonly count: number
  /** L. */
  readonly length: number
  readonly sources: readonly Float64Array[]
  /** Generation of the copy in kernel memory (−1: none); another `loadRows` copy replaces it. */
  generation: number
}

/** The one resident copy: loading other rows replaces it (a later product reloads transparently). */
const store = {
  kernels: undefined as RowExports | undefined | null,
  heap: new Float64Array(0),
  generation: 0
}

function kernels (): RowExports | null {
  if (store.kernels === undefined) {
    const variant = bestWasmGemmVariant()
    store.kernels = variant === undefined ? null : instantiateKernels(variant).exports as unknown as RowExports
  }
  return store.kernels
}

function ensure (k: RowExports, bytes: number): Float64Array {
  const have = k.memory.buffer.byteLength
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / PAGE))
  if (store.heap.buffer !== k.memory.buffer) store.heap = new Float64Array(k.memory.buffer)
  return store.heap
}

/** Rows to multiply (each at least `length` long; the first `length` entries are used). Nothing is copied yet. */
export function loadRows (sources: readonly Float64Array[], length: number): LoadedRows {
  for (const s of sources) if (s.length < length) throw new RangeError(`rows: a row of ${s.length} entries, expected ${length}`)
  return { count: sources.length, length, sources, generation: -1 }
}

export interface RowPass {
  /** How many rows of Z (the first ones) to return; default 0. */
  stored?: number
  /** a entries: Σ_t Z_it² for every row of Z. */
  sumsOfSquares?: Float64Array
  /** R entries: Σ_t Y_jt² for every row of Y. */
  rowSums?: Float64Array
}

/** Row stride of resident rows, in entries: L rounded up to the kernel's 8 columns. */
const padded = (L: number): number => Math.ceil(L / 8) * 8

/**
 * One pass over the rows with A (a × R, row-major): returns the first `stored` rows of
 * Z = A·Y (stored × L, a new array; bit for bit `gemm`), and fills the sums of squares of Z's
 * and Y's rows as asked.
 */
export function rowPass (rows: LoadedRows, A: ArrayLike<number>, a: number, pass: RowPass = {}): Float64Array {
  const R = rows.count; const L = rows.length
  const { sumsOfSquares: sums, rowSums } = pass
  const stored = pass.stored ?? 0
  if (A.length < a * R) throw new RangeError(`rows: A has ${A.length} entries, expected ${a}x${R}`)
  if (stored > a) throw new RangeError(`rows: ${stored} rows to store of ${a}`)
  if (L === 0 || R === 0) { sums?.fill(0, 0, a); rowSums?.fill(0, 0, R); return new Float64Array(stored * L) }
  // The stored product decides the kernel (bit for bit the GEMM's); without one, the whole pass's size.
  const useWasm = stored > 0
    ? gemmKernelFor(stored, L, R) === 'wasm'
    : a > 0 ? gemmKernelFor(a, L, R) === 'wasm' : R * L >= WASM_MIN_ENTRIES && gemmKernelFor(R, L, R) === 'wasm'
  const k = useWasm ? kernels() : null
  const Lp = padded(L); const groups = Math.ceil(a / 2)
  // Memory: Y (R × Lp) | Â (groups · R · 32 B) | Z sums (2·groups · 16 B) | Y sums (R · 16 B) | Z (2·gs × Lp).
  const pa = R * Lp * 8
  const ps = pa + groups * R * 32
  const pn = ps + groups * 32
  const pz = pn + R * 16
  const gs = Math.ceil(stored / 2)
  const bytes = pz + 2 * gs * Lp * 8
  if (k === null || bytes > MAX_BYTES) return passJs(rows, A, a, stored, sums, rowSums)
  const heap = ensure(k, bytes)
  // Â: for each group of 2 rows and each j, the 2 entries each twice (a zero row past a).
  let d = pa / 8
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < R; j++) {
      const v0 = A[2 * g * R + j]; const v1 = 2 * g + 1 < a ? A[(2 * g + 1) * R + j] : 0
      heap[d++] = v0; heap[d++] = v0; heap[d++] = v1; heap[d++] = v1
    }
  }
  heap.fill(0, ps / 8, pz / 8)
  const load = rows.generation !== store.generation || rows.generation < 0
  if (load) { store.generation++; rows.generation = store.generation }
  // Loading: column chunks, each copied in just before the kernel reads it (still in cache).
  const step = load ? Math.max(8, Math.floor(CHUNK_BYTES / (8 * R * 8)) * 8) : Lp
  for (let c0 = 0; c0 < Lp; c0 += step) {
    const c1 = Math.min(Lp, c0 + step)
    if (load) {
      const e = Math.min(c1, L)
      for (let j = 0; j < R; j++) {
        if (c0 < e) heap.set(rows.sources[j].subarray(c0, e), j * Lp + c0)
        if (c1 > L) heap.fill(0, j * Lp + Math.max(c0, L), j * Lp + c1)
      }
    }
    k.rows(groups, gs, R, (c1 - c0) / 8, pa, c0 * 8, Lp * 8, stored > 0 ? pz + c0 * 8 : 0, Lp * 8, sums !== undefined ? ps : 0, rowSums !== undefined ? pn : 0)
  }
  if (sums !== undefined) for (let i = 0; i < a; i++) sums[i] = heap[ps / 8 + 2 * i] + heap[ps / 8 + 2 * i + 1]
  if (rowSums !== undefined) for (let j = 0; j < R; j++) rowSums[j] = heap[pn / 8 + 2 * j] + heap[pn / 8 + 2 * j + 1]
  // Unpadded rows are contiguous already: one slice (allocation and copy, no zero fill).
  if (L === Lp) return heap.slice(pz / 8, pz / 8 + stored * L)
  const out = new Float64Array(stored * L)
  for (let i = 0; i < stored; i++) out.set(heap.subarray(pz / 8 + i * Lp, pz / 8 + i * Lp + L), i * L)
  return out
}

/**
 * The rows as one R × L row-major array, when the resident copy is exactly that (L a multiple
 * of 8, and these rows resident): a view into kernel memory, valid until the next load or
 * growth of it — use it at once. Null otherwise.
 */
export function residentMatrix (rows: LoadedRows): Float64Array | null {
  const L = rows.length
  if (rows.generation !== store.generation || rows.generation < 0 || L !== padded(L)) return null
  return store.heap.subarray(0, rows.count * L)
}

/**
 * D = Y·G (R × 4) for a G of L × 4: the sketches of the decoders' search, bit for bit
 * `gemm(Y, G)` (the same depth blocks and FMA chains), read from the resident rows instead of
 * packed again. Null where `gemm` would not run its WASM kernel on this shape, or G is not
 * L × 4: the caller uses `gemm`.
 */
export function rowDots (rows: LoadedRows, G: { rows: number, cols: number, data: Float64Array }): Float64Array | null {
  const R = rows.count; const L = rows.length
  if (G.rows !== L || G.cols !== 4 || R === 0 || L === 0 || gemmKernelFor(R, 4, L) !== 'wasm') return null
  const k = kernels()
  if (k === null) return null
  const Lp = padded(L); const groups = Math.ceil(R / 4)
  const prow = R * Lp * 8
  const pg = prow + groups * 16
  const pd = pg + L * 32
  const bytes = pd + groups * 128
  if (bytes > MAX_BYTES) return null
  if (rows.generation !== store.generation || rows.generation < 0) {
    const heap = ensure(k, bytes)
    for (let j = 0; j < R; j++) { heap.set(rows.sources[j].subarray(0, L), j * Lp); heap.fill(0, j * Lp + L, (j + 1) * Lp) }
    store.generation++; rows.generation = store.generation
  }
  const heap = ensure(k, bytes)
  const table = new Int32Array(heap.buffer, prow, groups * 4)
  for (let i = 0; i < groups * 4; i++) table[i] = (i < R ? i : 0) * Lp * 8
  heap.set(G.data.subarray(0, L * 4), pg / 8)
  k.dots(groups, 0, prow, L, gemmDepthBlock(L), pg, pd)
  return heap.slice(pd / 8, pd / 8 + R * 4)
}

/** Z = A·Y (A: a × R), a new a × L array; bit for bit `gemm(A, Y)`. Sums of squares of Z's rows on request. */
export function rowProduct (rows: LoadedRows, A: ArrayLike<number>, a: number, sumsOfSquares?: Float64Array): Float64Array {
  return rowPass(rows, A, a, { stored: a, sumsOfSquares })
}

/** sums[j] = Σ_t Y_jt² for every row. */
export function rowSumsOfSquares (rows: LoadedRows, sums: Float64Array): void {
  rowPass(rows, [], 0, { rowSums: sums })
}

let scratch = new Float64Array(0)

/** The JS kernel: Σ_j in j order from zero, as gemm's JS and reference kernels accumulate. */
function passJs (rows: LoadedRows, A: ArrayLike<number>, a: number, stored: number, sums: Float64Array | undefined, rowSums: Float64Array | undefined): Float64Array {
  const R = rows.count; const L = rows.length
  const out = new Float64Array(stored * L)
  if (rowSums !== undefined) {
    for (let j = 0; j < R; j++) {
      const y = rows.sources[j]
      let s = 0
      for (let t = 0; t < L; t++) s += y[t] * y[t]
      rowSums[j] = s
    }
  }
  if (sums === undefined && stored === 0) return out
  if (scratch.length < L) scratch = new Float64Array(L)
  for (let i = 0; i < (sums !== undefined ? a : stored); i++) {
    const z = i < stored ? out.subarray(i * L, (i + 1) * L) : scratch.subarray(0, L)
    z.fill(0)
    for (let j = 0; j < R; j++) {
      const w = A[i * R + j]
      const y = rows.sources[j]
      for (let t = 0; t < L; t++) z[t] += w * y[t]
    }
    if (sums !== undefined) {
      let s = 0
      for (let t = 0; t < L; t++) s += z[t] * z[t]
      sums[i] = s
    }
  }
  return out
}
