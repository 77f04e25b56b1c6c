/**
 * `codenet bench gemm`: GFLOP/s of the GEMM kernels beside single-thread OpenBLAS (numpy through
 * `python3 -c`) and ml-matrix, measured interleaved in one run so machine load hits all of them.
 *
 * Per repeat and shape: the WASM kernel, the JS kernel, ml-matrix `mmul`, numpy (one long-lived
 * python process with OMP/OPENBLAS_NUM_THREADS=1, asked shape by shape), and the WASM kernel on
 * two worker threads (rows of C split between them, operands in SharedArrayBuffers). Each figure
 * is the median over repeats; the verdict is the median over the target shapes of wasm/numpy
 * against 0.30.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { Matrix as MlMatrix } from 'ml-matrix'
import { gemmKernelName, gemmWith } from '../../codes/gemm/index.ts'
import { type Matrix, matrix } from '../../codes/matrix.ts'
import { median } from '../../codes/stats.ts'
import { NumpyTimer, TwoThreadGemm } from './gemm-workers.ts'

export const GEMM_TARGET_RATIO = 0.30

export interface GemmBenchOptions {
  /** Write the result as JSON to this file. */
  json?: string
  /** Small shapes and few repeats (seconds, for tests); not the official figure. */
  quick?: boolean
  out: NodeJS.WritableStream
  /** Override the number of repeats (median over these). */
  repeats?: number
}

export interface GemmBenchShape {
  m: number
  k: number
  n: number
  /** Counted in the verdict (the large shapes of the issue), else informational (training shapes). */
  target: boolean
}

/** GFLOP/s, median over repeats; null when that kernel was not measured. */
export interface GemmBenchRow {
  shape: string
  m: number
  k: number
  n: number
  target: boolean
  wasm: number | null
  wasm2Threads: number | null
  js: number
  mlMatrix: number | null
  numpy: number | null
  /** wasm / numpy, from the medians. */
  ratioWasmNumpy: number | null
  /** wasm on two threads / numpy on one. */
  ratioWasm2ThreadsNumpy: number | null
}

export interface GemmBenchResult {
  benchmark: 'gemm'
  /** Kernel `gemm` uses on this engine. */
  kernel: string
  quick: boolean
  repeats: number
  /** numpy's version and BLAS when available, else why it was skipped. */
  numpy: { available: boolean, version?: string, blas?: string, skipped?: string }
  rows: GemmBenchRow[]
  target: number
  /** Median over the target shapes of wasm/numpy; null without numpy or wasm. */
  medianRatio: number | null
  medianRatio2Threads: number | null
  /** medianRatio ≥ target; null when it could not be measured. */
  pass: boolean | null
  /** 1-minute load averages at the start and the end (the machine is shared). */
  loadAverage: { start: number, end: number }
  cpus: number
  node: string
}

const FULL_SHAPES: GemmBenchShape[] = [
  { m: 256, k: 256, n: 256, target: true },
  { m: 512, k: 512, n: 512, target: true },
  { m: 1024, k: 1024, n: 1024, target: true },
  { m: 1024, k: 1024, n: 32, target: true },
  { m: 64, k: 784, n: 16, target: false },
  { m: 64, k: 128, n: 64, target: false },
  { m: 10, k: 64, n: 16, target: false }
]

const QUICK_SHAPES: GemmBenchShape[] = [
  { m: 96, k: 96, n: 96, target: true },
  { m: 200, k: 100, n: 16, target: true },
  { m: 10, k: 64, n: 16, target: false }
]

/** Above this many multiply-adds ml-matrix is measured only once per repeat with no calibration loop. */
const ML_MATRIX_MAX_WORK = 1024 * 1024 * 1024

function randomMatrix (rows: number, cols: number, seed: number): Matrix {
  // xorshift: deterministic inputs without pulling in the training RNG.
  let s = (seed * 2654435761) >>> 0 || 1
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
    data[i] = s / 4294967296 - 0.5
  }
  return matrix(rows, cols, data)
}

/** Seconds per call of fn, timed over enough calls to last minSeconds. */
function timeSync (fn: () => void, minSeconds: number): number {
  let reps = 1
  for (;;) {
    const t0 = performance.now()
    for (let i = 0; i < reps; i++) fn()
    const dt = (performance.now() - t0) / 1000
    if (dt >= minSeconds || reps >= 1_000_000) return dt / reps
    reps = Math.max(reps * 2, Math.ceil(reps * minSeconds / Math.max(dt, 1e-9) * 1.2))
  }
}

async function timeAsync (fn: (reps: number) => Promise<void>, minSeconds: number): Promise<number> {
  let reps = 1
  for (;;) {
    const t0 = performance.now()
    await fn(reps)
    const dt = (performance.now() - t0) / 1000
    if (dt >= minSeconds || reps >= 1_000_000) return dt / reps
    reps = Math.max(reps * 2, Math.ceil(reps * minSeconds / Math.max(dt, 1e-9) * 1.2))
  }
}


const shapeLabel = (s: { m: number, k: number, n: number }): string => `${s.m}x${s.k}·${s.k}x${s.n}`

export async function runGemmBench (opts: GemmBenchOptions): Promise<GemmBenchResult> {
  const out = opts.out
  const quick = opts.quick === true
  const shapes = quick ? QUICK_SHAPES : FULL_SHAPES
  const repeats = opts.repeats ?? (quick ? 3 : 5)
  if (!Number.isInteger(repeats) || repeats < 1) throw new RangeError(`repeats must be a positive integer, got ${repeats}`)
  const minSeconds = quick ? 0.01 : 0.15
  const kernel = gemmKernelName()
  const hasWasm = kernel.startsWith('wasm')
  const loadStart = loadavg()[0]

  out.write(`codenet bench gemm: kernel ${kernel}, ${repeats} repeats${quick ? ' (quick)' : ''}, median GFLOP/s, load average ${loadStart.toFixed(2)}\n`)
  const numpy = new NumpyTimer()
  const twoThreads = hasWasm ? new TwoThreadGemm() : undefined
  const samples = shapes.map(() => ({ wasm: [] as number[], wasm2: [] as number[], js: [] as number[], ml: [] as number[], numpy: [] as number[] }))
  let numpyInfo: GemmBenchResult['numpy']
  try {
    const started = await numpy.start()
    numpyInfo = 'skipped' in started ? { available: false, skipped: started.skipped } : { available: true, ...started }
    if ('skipped' in started) out.write(`numpy skipped: ${started.skipped}\n`)
    else out.write(`numpy ${started.version} (${started.blas || 'unknown BLAS'}) single-threaded through python3\n`)
    await twoThreads?.ready()

    const inputs = shapes.map((s, i) => ({ a: randomMatrix(s.m, s.k, 2 * i + 1), b: randomMatrix(s.k, s.n, 2 * i + 2), c: matrix(s.m, s.n) }))
    const ml = inputs.map(({ a, b }) => ({ a: new MlMatrix(a.rows, a.cols), b: new MlMatrix(b.rows, b.cols), src: { a, b } }))
    for (const { a, b, src } of ml) {
      for (let i = 0; i < src.a.rows; i++) for (let j = 0; j < src.a.cols; j++) a.set(i, j, src.a.data[i * src.a.cols + j])
      for (let i = 0; i < src.b.rows; i++) for (let j = 0; j < src.b.cols; j++) b.set(i, j, src.b.data[i * src.b.cols + j])
    }
    // Warm-up: let the engine tier up every path before anything is recorded.
    for (const { a, b, c } of inputs) {
      timeSync(() => { gemmWith('js', a, b, c) }, minSeconds / 2)
      if (hasWasm) timeSync(() => { gemmWith('wasm', a, b, c) }, minSeconds / 2)
    }

    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < shapes.length; i++) {
        const s = shapes[i]; const { a, b, c } = inputs[i]; const flops = 2 * s.m * s.n * s.k / 1e9
        if (hasWasm) samples[i].wasm.push(flops / timeSync(() => { gemmWith('wasm', a, b, c) }, minSeconds))
        samples[i].js.push(flops / timeSync(() => { gemmWith('js', a, b, c) }, minSeconds))
        if (numpyInfo.available) {
          const sec = await numpy.time(s.m, s.k, s.n, minSeconds)
          if (sec !== undefined) samples[i].numpy.push(flops / sec)
        }
        const mlIn = ml[i]
        const mlSeconds = s.m * s.n * s.k > ML_MATRIX_MAX_WORK
          ? timeSync(() => { mlIn.a.mmul(mlIn.b) }, 0)
          : timeSync(() => { mlIn.a.mmul(mlIn.b) }, minSeconds)
        samples[i].ml.push(flops / mlSeconds)
        if (twoThreads !== undefined && s.target) {
          await twoThreads.setup(a, b)
          await timeAsync(async reps => { await twoThreads.run(reps) }, minSeconds / 2) // warm-up: each worker tiers up its own code
          samples[i].wasm2.push(flops / await timeAsync(async reps => { await twoThreads.run(reps) }, minSeconds))
        }
      }
      out.write(`  repeat ${r + 1}/${repeats} done (load ${loadavg()[0].toFixed(2)})\n`)
    }
  } finally {
    numpy.stop()
    await twoThreads?.stop()
  }

  const med = (xs: number[]): number | null => xs.length === 0 ? null : median(xs)
  const ratio = (x: number | null, y: number | null): number | null => x === null || y === null || y === 0 ? null : x / y
  const rows: GemmBenchRow[] = shapes.map((s, i) => {
    const wasm = med(samples[i].wasm); const wasm2 = med(samples[i].wasm2); const np = med(samples[i].numpy)
    return {
      shape: shapeLabel(s),
      m: s.m,
      k: s.k,
      n: s.n,
      target: s.target,
      wasm,
      wasm2Threads: wasm2,
      js: median(samples[i].js),
      mlMatrix: med(samples[i].ml),
      numpy: np,
      ratioWasmNumpy: ratio(wasm, np),
      ratioWasm2ThreadsNumpy: ratio(wasm2, np)
    }
  })
  const targetRatios = rows.filter(r => r.target && r.ratioWasmNumpy !== null).map(r => r.ratioWasmNumpy as number)
  const targetRatios2 = rows.filter(r => r.target && r.ratioWasm2ThreadsNumpy !== null).map(r => r.ratioWasm2ThreadsNumpy as number)
  const medianRatio = targetRatios.length === rows.filter(r => r.target).length && targetRatios.length > 0 ? median(targetRatios) : null
  const medianRatio2Threads = targetRatios2.length > 0 ? median(targetRatios2) : null
  const result: GemmBenchResult = {
    benchmark: 'gemm',
    kernel,
    quick,
    repeats,
    numpy: numpyInfo,
    rows,
    target: GEMM_TARGET_RATIO,
    medianRatio,
    medianRatio2Threads,
    pass: medianRatio === null ? null : medianRatio >= GEMM_TARGET_RATIO,
    loadAverage: { start: loadStart, end: loadavg()[0] },
    cpus: (await import('node:os')).availableParallelism(),
    node: process.version
  }
  out.write(formatGemmTable(result))
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n')
  return result
}

/** The human-readable table of a result. */
export function formatGemmTable (res: GemmBenchResult): string {
  const f = (x: number | null, digits = 2): string => x === null ? '-' : x.toFixed(digits)
  const header = ['shape (m×k·k×n)', 'wasm', 'wasm×2thr', 'js', 'ml-matrix', 'numpy×1thr', 'wasm/numpy', 'wasm×2/numpy']
  const table = res.rows.map(r => [
    r.shape + (r.target ? '' : ' *'), f(r.wasm), f(r.wasm2Threads), f(r.js), f(r.mlMatrix), f(r.numpy), f(r.ratioWasmNumpy), f(r.ratioWasm2ThreadsNumpy)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map(row => row[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ')
  const lines = [
    '',
    'GFLOP/s (median over repeats); * = training shape, not in the verdict',
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...table.map(line),
    ''
  ]
  if (res.medianRatio === null) {
    lines.push(res.numpy.available ? 'verdict: not measured (no WASM kernel)' : `verdict: not measured (numpy skipped: ${res.numpy.skipped ?? 'unavailable'})`)
  } else {
    lines.push(`median wasm/numpy over the target shapes: ${res.medianRatio.toFixed(3)} (target ≥ ${res.target.toFixed(2)}): ${res.pass === true ? 'PASS' : 'FAIL'}`)
  }
  if (res.medianRatio2Threads !== null) lines.push(`median wasm on 2 threads / numpy on 1: ${res.medianRatio2Threads.toFixed(3)}`)
  lines.push(`load average ${res.loadAverage.start.toFixed(2)} at start, ${res.loadAverage.end.toFixed(2)} at end, ${res.cpus} CPUs${res.quick ? '; quick mode: small shapes, not the official figure' : ''}`)
  return lines.join('\n') + '\n'
}

// `node testnet/bench/gemm.ts [--quick] [--json FILE]` until the lead wires `codenet bench gemm`.
if (process.argv[1] !== undefined && new URL(import.meta.url).pathname === process.argv[1]) {
  const args = process.argv.slice(2)
  const jsonAt = args.indexOf('--json')
  await runGemmBench({ out: process.stdout, quick: args.includes('--quick'), json: jsonAt >= 0 ? args[jsonAt + 1] : undefined })
}
