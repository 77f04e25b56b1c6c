/**
 * `codenet bench codes`: the cost of the coding layer around one peer's GEMM.
 *
 * For representative layers (W is N_out × N_in: 784→128 and 128→64, B = 16 and B = 1) and two
 * codes (the default for 6 peers and a larger one), each operation is timed (median over
 * repeats) and reported as a fraction of the peer's own GEMM W~_p·x~_p measured in the same
 * run:
 *  - encodeInput: one peer's x~_p (forward) and δ~_p (backward);
 *  - decode0 / decode1 / decodeMax: decoding W·X from all P results with no error, one
 *    error, and the adversarial maximum ⌊(P − Q)/2⌋ errors (mode 'adversarial');
 *  - decodeBackward0: Wᵀ·Δ from all results, no error;
 *  - detect: Q + 1 results with one error — detected and refused;
 *  - audit: sketching one shard (4 probe columns) plus checking P sketches;
 *  - repair: rebuilding one shard from the other P − 1;
 *  - update: one peer's coded rank-B update.
 */
import { writeFileSync } from 'node:fs'
import { gemm, gemmKernelName } from '../../codes/gemm/index.ts'
import { type Matrix, matrix } from '../../codes/matrix.ts'
import { chooseCode, createShardProbe, sketchShard, PolyDotScheme } from '../../codes/index.ts'
import { createGaussian, mulberry32 } from '../../codes/random.ts'
import { median } from '../../codes/stats.ts'

export interface CodesBenchOptions {
  json?: string
  /** One small layer and few repeats: structure only, not the official figure. */
  quick?: boolean
  out: NodeJS.WritableStream
}

export const CODES_BENCH_OPERATIONS = ['encodeInput', 'decode0', 'decode1', 'decodeMax', 'decodeBackward0', 'detect', 'audit', 'repair', 'update'] as const
export type CodesBenchOperation = typeof CODES_BENCH_OPERATIONS[number]

export interface CodesBenchRow {
  layer: string
  nOut: number
  nIn: number
  batch: number
  peers: number
  m: number
  n: number
  thresholds: { forward: number, backward: number }
  /** Errors corrected by decodeMax. */
  maxErrors: number
  /** Median ms of the peer's W~_p·x~_p. */
  gemmMs: number
  /** Median ms of each operation. */
  ms: Record<CodesBenchOperation, number>
  /** ms / gemmMs. */
  ratio: Record<CodesBenchOperation, number>
}

export interface CodesBenchResult {
  benchmark: 'codes'
  kernel: string
  quick: boolean
  repeats: number
  rows: CodesBenchRow[]
  node: string
}

function randomMatrix (rows: number, cols: number, seed: number): Matrix {
  const g = createGaussian(mulberry32(seed))
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => g()))
}


/** Median wall time of fn in ms, repeated until ≥ minMs per sample to beat timer resolution. */
function time (fn: () => unknown, repeats: number, minMs: number): number {
  fn() // warm-up
  const samples: number[] = []
  for (let r = 0; r < repeats; r++) {
    let iters = 0
    const t0 = performance.now()
    let t = t0
    do { fn(); iters++; t = performance.now() } while (t - t0 < minMs)
    samples.push((t - t0) / iters)
  }
  return median(samples)
}

function corrupt (y: Matrix, seed: number): Matrix {
  const g = createGaussian(mulberry32(seed))
  return { rows: y.rows, cols: y.cols, data: y.data.map(v => v + g()) }
}

function benchOne (nIn: number, nOut: number, batch: number, peers: number, m: number, n: number, repeats: number, minMs: number): CodesBenchRow {
  const s = new PolyDotScheme(peers, m, n)
  const W = randomMatrix(nOut, nIn, 1)
  const X = randomMatrix(nIn, batch, 2)
  const D = randomMatrix(nOut, batch, 3)
  const shards = Array.from({ length: peers }, (_, p) => s.encodeShard(W, p))
  const xs = shards.map((_, p) => s.encodeForwardInput(X, p))
  const ds = shards.map((_, p) => s.encodeBackwardInput(D, p))
  const fwd = new Map(shards.map((sh, p) => [p, s.compute('forward', sh, xs[p])]))
  const bwd = new Map(shards.map((sh, p) => [p, s.compute('backward', sh, ds[p])]))
  const Qf = s.recoveryThreshold.forward
  const maxErrors = s.correctable('forward', peers).adversarial
  const one = new Map(fwd); one.set(1, corrupt(fwd.get(1)!, 10))
  const many = new Map(fwd)
  for (let e = 0; e < maxErrors; e++) many.set(2 * e + 1, corrupt(fwd.get(2 * e + 1)!, 20 + e))
  const detectSet = new Map([...fwd].slice(0, Qf + 1))
  detectSet.set(0, corrupt(fwd.get(0)!, 30))
  const probe = createShardProbe(shards[0].cols, 4, 7)
  const sketches = new Map(shards.map((sh, p) => [p, sketchShard(sh, probe)]))
  const shardMap = new Map(shards.map((sh, p) => [p, sh]))
  const upd = matrix(shards[0].rows, shards[0].cols, shards[0].data.slice())

  const check = (ok: boolean, what: string): void => { if (!ok) throw new Error(`codes bench: ${what} did not behave as expected`) }
  check(s.decode('forward', one).ok, 'decode with one error')
  check(s.decode('forward', many, { mode: 'adversarial' }).ok, 'decode with max errors')
  check(!s.decode('forward', detectSet).ok, 'detection')

  const gemmMs = time(() => gemm(shards[0], xs[0]), repeats, minMs)
  const ms: Record<CodesBenchOperation, number> = {
    encodeInput: time(() => { s.encodeForwardInput(X, 0); s.encodeBackwardInput(D, 0) }, repeats, minMs),
    decode0: time(() => s.decode('forward', fwd), repeats, minMs),
    decode1: time(() => s.decode('forward', one), repeats, minMs),
    decodeMax: time(() => s.decode('forward', many, { mode: 'adversarial' }), repeats, minMs),
    decodeBackward0: time(() => s.decode('backward', bwd), repeats, minMs),
    detect: time(() => s.decode('forward', detectSet), repeats, minMs),
    audit: time(() => { sketchShard(shards[0], probe); s.checkShards(sketches) }, repeats, minMs),
    repair: time(() => s.repairShard(shardMap, 0), repeats, minMs),
    update: time(() => s.applyUpdate(upd, D, X, 1e-3, 0), repeats, minMs)
  }
  const ratio = Object.fromEntries(CODES_BENCH_OPERATIONS.map(k => [k, ms[k] / gemmMs])) as Record<CodesBenchOperation, number>
  return { layer: `${nIn}->${nOut}`, nOut, nIn, batch, peers, m, n, thresholds: { ...s.recoveryThreshold }, maxErrors, gemmMs, ms, ratio }
}

export async function runCodesBench (opts: CodesBenchOptions): Promise<CodesBenchResult> {
  const quick = opts.quick === true
  const repeats = quick ? 3 : 9
  const minMs = quick ? 1 : 20
  const layers: Array<[number, number]> = quick ? [[128, 64]] : [[784, 128], [128, 64]]
  const batches = quick ? [4] : [16, 1]
  const codes: Array<[number, number, number]> = [[6, chooseCode(6).m, chooseCode(6).n], [12, chooseCode(12).m, chooseCode(12).n]]
  const rows: CodesBenchRow[] = []
  const w = (s: string): void => { opts.out.write(s + '\n') }
  w(`codes bench (${quick ? 'quick' : 'full'}), gemm kernel ${gemmKernelName()}: each operation as a multiple of the peer's own GEMM W~_p·x~_p`)
  const head = ['layer', 'B', 'P', 'm,n', 'Qf/Qb', 'gemm ms', ...CODES_BENCH_OPERATIONS]
  w(head.map(h => h.padStart(10)).join(' '))
  for (const [nIn, nOut] of layers) {
    for (const batch of batches) {
      for (const [P, m, n] of codes) {
        const row = benchOne(nIn, nOut, batch, P, m, n, repeats, minMs)
        rows.push(row)
        w([row.layer, String(batch), String(P), `${m},${n}`, `${row.thresholds.forward}/${row.thresholds.backward}`, row.gemmMs.toFixed(4),
          ...CODES_BENCH_OPERATIONS.map(k => row.ratio[k].toFixed(2) + 'x')].map(c => c.padStart(10)).join(' '))
        await new Promise(resolve => setImmediate(resolve))
      }
    }
  }
  w(`decodeMax corrects the adversarial maximum ⌊(P−Q)/2⌋ errors; detect = Q+1 results with one error (refused).`)
  const result: CodesBenchResult = { benchmark: 'codes', kernel: gemmKernelName(), quick, repeats, rows, node: process.version }
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n')
  return result
}
