/**
 * `codenet bench gemm`: GFLOP/s of the GEMM kernels beside single-thread OpenBLAS (numpy through
 * `python3 -c`) and ml-matrix, measured interleaved in one run so machine load hits all of them.
 *
 * Per repeat and shape: the WASM kernel, the JS kernel, ml-matrix `mmul`, numpy (one long-lived
 * python process with OMP/OPENBLAS_NUM_THREADS=1, asked shape by shape), and the WASM kernel on
 * two worker threads (rows of C split between them, operands in SharedArrayBuffers). Each figure
 * is the median over repeats; the verdict is the median over the target shapes of wasm/numpy
 * against 0.30.
 *
 * numpy runs twice when the environment sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE (some
 * machines pin them — e.g. Haswell — for old OpenBLAS builds; they slow a current one, ~62 vs
 * ~102 GFLOP/s single-threaded measured on one such machine): once with the environment as it
 * is ("numpy"), once with both removed for that python process only ("numpy clean", the honest
 * baseline). Both ratios are reported, with the OpenBLAS kernel each process ran.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { Matrix as MlMatrix } from 'ml-matrix'
import { gemmKernelName, gemmWith } from '../../codes/gemm/index.ts'
import { type Matrix, matrix } from '../../codes/matrix.ts'
import { median } from '../../codes/stats.ts'
import { NumpyTimer, TwoThreadGemm } from './gemm-workers.ts'

export const GEMM_TARGET_RATIO = 0.30
/** Environment variables that pin OpenBLAS's kernel or cache size; the clean baseline runs without them. */
export const OPENBLAS_PIN_VARIABLES = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] as const

export interface GemmBenchOptions {
  /** Write the result as JSON to this file. */
  json?: string
  /** Small shapes and few repeats (seconds, for tests); not the official figure. */
  quick?: boolean
  out: NodeJS.WritableStream
  /** Override the number of repeats (median over these). */
  repeats?: number
  /** The environment the numpy processes inherit (default process.env). */
  env?: NodeJS.ProcessEnv
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
  /** numpy without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (the same figure as numpy when neither is set). */
  numpyClean: number | null
  /** wasm / numpy, from the medians. */
  ratioWasmNumpy: number | null
  /** wasm on two threads / numpy on one. */
  ratioWasm2ThreadsNumpy: number | null
  ratioWasmNumpyClean: number | null
  ratioWasm2ThreadsNumpyClean: number | null
}

export interface NumpyInfo {
  available: boolean
  version?: string
  blas?: string
  /** The OpenBLAS kernel (core type) the process ran, or 'unknown'. */
  kernel?: string
  skipped?: string
}

export interface GemmBenchResult {
  benchmark: 'gemm'
  /** Kernel `gemm` uses on this engine. */
  kernel: string
  quick: boolean
  repeats: number
  /** numpy's version, BLAS and kernel when available, else why it was skipped; `env`: the pinning variables it saw. */
  numpy: NumpyInfo & { env: Record<string, string | null> }
  /** numpy with the pinning variables removed; `sameAsNumpy` when there were none to remove (then measured once). */
  numpyClean: NumpyInfo & { unset: string[], sameAsNumpy: boolean }
  rows: GemmBenchRow[]
  target: number
  /** Median over the target shapes of wasm/numpy; null without numpy or wasm. */
  medianRatio: number | null
  medianRatio2Threads: number | null
  /** The same against numpy clean. */
  medianRatioClean: number | null
  medianRatio2ThreadsClean: number | null
  /** medianRatio ≥ target; null when it could not be measured. */
  pass: boolean | null
  /** medianRatioClean ≥ target. */
  passClean: boolean | null
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
  const env = opts.env ?? process.env
  const pins = Object.fromEntries(OPENBLAS_PIN_VARIABLES.map(v => [v, env[v] ?? null]))
  const pinned = OPENBLAS_PIN_VARIABLES.filter(v => env[v] !== undefined)
  const numpy = new NumpyTimer({ env })
  // Without pinning variables the clean process would be the same process again: measured once.
  const numpyClean = pinned.length > 0 ? new NumpyTimer({ env, unset: OPENBLAS_PIN_VARIABLES }) : undefined
  const twoThreads = hasWasm ? new TwoThreadGemm() : undefined
  const samples = shapes.map(() => ({ wasm: [] as number[], wasm2: [] as number[], js: [] as number[], ml: [] as number[], numpy: [] as number[], numpyClean: [] as number[] }))
  const describeNumpy = (started: Awaited<ReturnType<NumpyTimer['start']>>): NumpyInfo => 'skipped' in started ? { available: false, skipped: started.skipped } : { available: true, ...started }
  let numpyInfo: NumpyInfo
  let numpyCleanInfo: NumpyInfo
  try {
    numpyInfo = describeNumpy(await numpy.start())
    numpyCleanInfo = numpyClean === undefined ? numpyInfo : describeNumpy(await numpyClean.start())
    const pinText = pinned.length === 0 ? 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset' : pinned.map(v => `${v}=${env[v]}`).join(' ')
    if (!numpyInfo.available) out.write(`numpy skipped: ${numpyInfo.skipped}\n`)
    else out.write(`numpy ${numpyInfo.version} (${numpyInfo.blas || 'unknown BLAS'}) single-threaded through python3, ${pinText}: OpenBLAS kernel ${numpyInfo.kernel}\n`)
    if (numpyClean !== undefined && numpyCleanInfo.available) out.write(`numpy clean (without ${OPENBLAS_PIN_VARIABLES.join(', ')}): OpenBLAS kernel ${numpyCleanInfo.kernel}\n`)
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
        if (numpyClean !== undefined && numpyCleanInfo.available) {
          const sec = await numpyClean.time(s.m, s.k, s.n, minSeconds)
          if (sec !== undefined) samples[i].numpyClean.push(flops / sec)
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
    numpyClean?.stop()
    await twoThreads?.stop()
  }

  const med = (xs: number[]): number | null => xs.length === 0 ? null : median(xs)
  const ratio = (x: number | null, y: number | null): number | null => x === null || y === null || y === 0 ? null : x / y
  const rows: GemmBenchRow[] = shapes.map((s, i) => {
    const wasm = med(samples[i].wasm); const wasm2 = med(samples[i].wasm2); const np = med(samples[i].numpy)
    const npClean = numpyClean === undefined ? np : med(samples[i].numpyClean)
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
      numpyClean: npClean,
      ratioWasmNumpy: ratio(wasm, np),
      ratioWasm2ThreadsNumpy: ratio(wasm2, np),
      ratioWasmNumpyClean: ratio(wasm, npClean),
      ratioWasm2ThreadsNumpyClean: ratio(wasm2, npClean)
    }
  })
  const targets = rows.filter(r => r.target)
  // The verdict needs every target shape; the 2-thread figure is informational.
  const medianOver = (pick: (r: GemmBenchRow) => number | null, needAll: boolean): number | null => {
    const xs = targets.map(pick).filter((x): x is number => x !== null)
    return xs.length > 0 && (!needAll || xs.length === targets.length) ? median(xs) : null
  }
  const medianRatio = medianOver(r => r.ratioWasmNumpy, true)
  const medianRatio2Threads = medianOver(r => r.ratioWasm2ThreadsNumpy, false)
  const medianRatioClean = medianOver(r => r.ratioWasmNumpyClean, true)
  const medianRatio2ThreadsClean = medianOver(r => r.ratioWasm2ThreadsNumpyClean, false)
  const result: GemmBenchResult = {
    benchmark: 'gemm',
    kernel,
    quick,
    repeats,
    numpy: { ...numpyInfo, env: pins },
    numpyClean: { ...numpyCleanInfo, unset: [...OPENBLAS_PIN_VARIABLES], sameAsNumpy: numpyClean === undefined },
    rows,
    target: GEMM_TARGET_RATIO,
    medianRatio,
    medianRatio2Threads,
    medianRatioClean,
    medianRatio2ThreadsClean,
    pass: medianRatio === null ? null : medianRatio >= GEMM_TARGET_RATIO,
    passClean: medianRatioClean === null ? null : medianRatioClean >= GEMM_TARGET_RATIO,
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
  const header = ['shape (m×k·k×n)', 'wasm', 'wasm×2thr', 'js', 'ml-matrix', 'numpy×1thr', 'numpy clean', 'wasm/numpy', 'wasm/clean', 'wasm×2/clean']
  const table = res.rows.map(r => [
    r.shape + (r.target ? '' : ' *'), f(r.wasm), f(r.wasm2Threads), f(r.js), f(r.mlMatrix), f(r.numpy), f(r.numpyClean),
    f(r.ratioWasmNumpy), f(r.ratioWasmNumpyClean), f(r.ratioWasm2ThreadsNumpyClean)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map(row => row[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ')
  const pins = Object.entries(res.numpy.env).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v as string}`)
  const lines = [
    '',
    'GFLOP/s (median over repeats); * = training shape, not in the verdict',
    res.numpy.available
      ? res.numpyClean.sameAsNumpy
        ? `numpy: OpenBLAS kernel ${res.numpy.kernel ?? 'unknown'}; ${res.numpyClean.unset.join(' and ')} not set, so numpy clean is numpy (measured once)`
        : `numpy: ${pins.join(' ')} → OpenBLAS kernel ${res.numpy.kernel ?? 'unknown'}; numpy clean (both unset for its process only) → ${res.numpyClean.kernel ?? 'unknown'}`
      : '',
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
  if (res.medianRatioClean !== null) lines.push(`median wasm/numpy-clean over the target shapes: ${res.medianRatioClean.toFixed(3)} (target ≥ ${res.target.toFixed(2)}): ${res.passClean === true ? 'PASS' : 'FAIL'}`)
  if (res.medianRatio2Threads !== null) lines.push(`median wasm on 2 threads / numpy on 1: ${res.medianRatio2Threads.toFixed(3)}${res.medianRatio2ThreadsClean !== null ? ` (numpy clean: ${res.medianRatio2ThreadsClean.toFixed(3)})` : ''}`)
  lines.push(`load average ${res.loadAverage.start.toFixed(2)} at start, ${res.loadAverage.end.toFixed(2)} at end, ${res.cpus} CPUs${res.quick ? '; quick mode: small shapes, not the official figure' : ''}`)
  return lines.join('\n') + '\n'
}

// `node testnet/bench/gemm.ts [--quick] [--json FILE]` until the lead wires `codenet bench gemm`.
if (process.argv[1] !== undefined && new URL(import.meta.url).pathname === process.argv[1]) {
  const args = process.argv.slice(2)
  const jsonAt = args.indexOf('--json')
  await runGemmBench({ out: process.stdout, quick: args.includes('--quick'), json: jsonAt >= 0 ? args[jsonAt + 1] : undefined })
}
