/**
 * `codenet bench codes`: the cost of the coding layer around one peer's GEMMs.
 *
 * Times are CPU time of this process (`process.cpuUsage`), measured interleaved — every
 * operation of a layer sampled once per repeat, in turn — and reported as medians, so machine
 * load and drift hit every operation alike.
 *
 * Operations table: for representative layers (W is N_out × N_in: 784→128 and 128→64, B = 16
 * and B = 1) and two codes (the default for 6 peers and a larger one), each operation as a
 * multiple of the peer's own GEMM W~_p·x~_p:
 *  - encodeInput: one peer's x~_p (forward) and δ~_p (backward);
 *  - decode0 / decode1 / decodeMax: decoding W·X from all P results with no error, one
 *    error, and the adversarial maximum ⌊(P − Q)/2⌋ errors (mode 'adversarial');
 *  - decodeBackward0: Wᵀ·Δ from all results, no error;
 *  - detect: Q + 1 results with one error — detected and refused;
 *  - audit: sketching one shard (4 probe columns) plus checking P sketches;
 *  - repair: rebuilding one shard from the other P − 1;
 *  - update: one peer's coded rank-B update.
 *
 * Targets table (the targets, for the default code of 6 peers, B = 16, layers 784→128,
 * 512→512 and 1024→1024): a peer's step on a layer is its forward product, backward product and
 * update (its GEMMs) plus the coding — encoding both inputs and decoding (detection included)
 * both products. Reported: coding as a fraction of that step with no error, and with the
 * adversarial maximum of errors in both phases; and the repair of one shard over the forward
 * GEMM and over the step's GEMMs. The targets (≤ 10 %, ≤ 25 %, repair ≤ 2× the GEMM) apply to
 * layers whose narrower side is at least 512.
 */
import { writeFileSync } from 'node:fs'
import { gemm, gemmKernelName } from '../../codes/gemm/index.ts'
import { type Matrix, matrix } from '../../codes/matrix.ts'
import { chooseCode, createShardProbe, sketchShard, PolyDotScheme } from '../../codes/index.ts'
import { createGaussian, mulberry32 } from '../../codes/random.ts'
import { median } from '../../codes/stats.ts'

/** The targets table's batch unless told: the configuration (784→128, B = 16, P = 6). */
export const CODES_TARGET_BATCH = 16

export interface CodesBenchOptions {
  json?: string
  /** One small layer and few repeats: structure only, not the official figure. */
  quick?: boolean
  /**
   * Batch of the targets table (default 16, the configuration). Coding work grows with B
   * like the GEMMs, a repair does not: `--batch 64` (the default recipe's) shows the job as run.
   */
  batch?: number
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

/** The targets: coding ≤ 10 % of a peer's step with no error, ≤ 25 % at the maximum of errors, repair ≤ 2× the GEMM. */
export const CODES_TARGETS = { clean: 0.10, maxErrors: 0.25, repairOverGemm: 2, minWidth: 512 } as const

export interface CodesTargetRow {
  layer: string
  nOut: number
  nIn: number
  batch: number
  peers: number
  m: number
  n: number
  /** Errors in the max-errors step: the adversarial maximum ⌊(P − Q)/2⌋ of each phase. */
  maxErrors: { forward: number, backward: number }
  /** Median ms of the peer's GEMMs on this layer in one step; `step` is their sum. */
  gemmMs: { forward: number, backward: number, update: number, step: number }
  /** Median ms of the coding work; `clean` and `maxErrors` are the step totals (both encodings, both decodes). */
  codingMs: { encode: number, decodeForward: number, decodeBackward: number, decodeForwardMax: number, decodeBackwardMax: number, clean: number, maxErrors: number }
  /** Coding / (step GEMMs + coding). */
  overhead: { clean: number, maxErrors: number }
  repairMs: number
  /** repairMs / gemmMs.forward (the peer's GEMM W~_p·x~_p). */
  repairOverGemm: number
  /** repairMs / gemmMs.step. */
  repairOverStepGemm: number
  /** Whether each target is met; null where it does not apply (narrower side < 512). */
  met: { clean: boolean | null, maxErrors: boolean | null, repair: boolean | null }
}

export interface CodesBenchResult {
  benchmark: 'codes'
  kernel: string
  quick: boolean
  repeats: number
  /** What the times are: CPU time of this process. */
  timer: 'cpu'
  rows: CodesBenchRow[]
  targets: CodesTargetRow[]
  node: string
}

function randomMatrix (rows: number, cols: number, seed: number): Matrix {
  const g = createGaussian(mulberry32(seed))
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => g()))
}

function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/**
 * Median CPU ms per call of every operation: each repeat samples every operation once, in
 * turn; a sample repeats its operation until ≥ minMs of CPU time (timer resolution).
 */
function measure<K extends string> (ops: Record<K, () => unknown>, repeats: number, minMs: number): Record<K, number> {
  const keys = Object.keys(ops) as K[]
  for (const k of keys) ops[k]() // warm-up
  const samples = Object.fromEntries(keys.map(k => [k, [] as number[]])) as Record<K, number[]>
  for (let r = 0; r < repeats; r++) {
    for (const k of keys) {
      let iters = 0
      const t0 = cpuMs()
      let t = t0
      do { ops[k](); iters++; t = cpuMs() } while (t - t0 < minMs)
      samples[k].push((t - t0) / iters)
    }
  }
  return Object.fromEntries(keys.map(k => [k, median(samples[k])])) as Record<K, number>
}

function corrupt (y: Matrix, seed: number): Matrix {
  const g = createGaussian(mulberry32(seed))
  return { rows: y.rows, cols: y.cols, data: y.data.map(v => v + g()) }
}

/** One layer under one code: shards, every peer's products, and result sets with errors. */
function setup (nIn: number, nOut: number, batch: number, peers: number, m: number, n: number): {
  s: PolyDotScheme, W: Matrix, X: Matrix, D: Matrix, shards: Matrix[], xs: Matrix[], ds: Matrix[]
  fwd: Map<number, Matrix>, bwd: Map<number, Matrix>, fwdMax: Map<number, Matrix>, bwdMax: Map<number, Matrix>
  maxErrors: { forward: number, backward: number }
} {
  const s = new PolyDotScheme(peers, m, n)
  const W = randomMatrix(nOut, nIn, 1)
  const X = randomMatrix(nIn, batch, 2)
  const D = randomMatrix(nOut, batch, 3)
  const shards = Array.from({ length: peers }, (_, p) => s.encodeShard(W, p))
  const xs = shards.map((_, p) => s.encodeForwardInput(X, p))
  const ds = shards.map((_, p) => s.encodeBackwardInput(D, p))
  const fwd = new Map(shards.map((sh, p) => [p, s.compute('forward', sh, xs[p])]))
  const bwd = new Map(shards.map((sh, p) => [p, s.compute('backward', sh, ds[p])]))
  const maxErrors = { forward: s.correctable('forward', peers).adversarial, backward: s.correctable('backward', peers).adversarial }
  const fwdMax = new Map(fwd)
  for (let e = 0; e < maxErrors.forward; e++) fwdMax.set(2 * e + 1, corrupt(fwd.get(2 * e + 1)!, 20 + e))
  const bwdMax = new Map(bwd)
  for (let e = 0; e < maxErrors.backward; e++) bwdMax.set(2 * e + 1, corrupt(bwd.get(2 * e + 1)!, 40 + e))
  return { s, W, X, D, shards, xs, ds, fwd, bwd, fwdMax, bwdMax, maxErrors }
}

function check (ok: boolean, what: string): void {
  if (!ok) throw new Error(`codes bench: ${what} did not behave as expected`)
}

function benchOne (nIn: number, nOut: number, batch: number, peers: number, m: number, n: number, repeats: number, minMs: number): CodesBenchRow {
  const { s, X, D, shards, xs, fwd, bwd, fwdMax: many, maxErrors } = setup(nIn, nOut, batch, peers, m, n)
  const Qf = s.recoveryThreshold.forward
  const one = new Map(fwd); one.set(1, corrupt(fwd.get(1)!, 10))
  const detectSet = new Map([...fwd].slice(0, Qf + 1))
  detectSet.set(0, corrupt(fwd.get(0)!, 30))
  const probe = createShardProbe(shards[0].cols, 4, 7)
  const sketches = new Map(shards.map((sh, p) => [p, sketchShard(sh, probe)]))
  const shardMap = new Map(shards.map((sh, p) => [p, sh]))
  const upd = matrix(shards[0].rows, shards[0].cols, shards[0].data.slice())

  check(s.decode('forward', one).ok, 'decode with one error')
  check(s.decode('forward', many, { mode: 'adversarial' }).ok, 'decode with max errors')
  check(!s.decode('forward', detectSet).ok, 'detection')

  const ms = measure({
    gemm: () => gemm(shards[0], xs[0]),
    encodeInput: () => { s.encodeForwardInput(X, 0); s.encodeBackwardInput(D, 0) },
    decode0: () => s.decode('forward', fwd),
    decode1: () => s.decode('forward', one),
    decodeMax: () => s.decode('forward', many, { mode: 'adversarial' }),
    decodeBackward0: () => s.decode('backward', bwd),
    detect: () => s.decode('forward', detectSet),
    audit: () => { sketchShard(shards[0], probe); s.checkShards(sketches) },
    repair: () => s.repairShard(shardMap, 0),
    update: () => s.applyUpdate(upd, D, X, 1e-3, 0)
  }, repeats, minMs)
  const { gemm: gemmMs, ...rest } = ms
  const ratio = Object.fromEntries(CODES_BENCH_OPERATIONS.map(k => [k, rest[k] / gemmMs])) as Record<CodesBenchOperation, number>
  return { layer: `${nIn}->${nOut}`, nOut, nIn, batch, peers, m, n, thresholds: { ...s.recoveryThreshold }, maxErrors: maxErrors.forward, gemmMs, ms: rest, ratio }
}

function benchTarget (nIn: number, nOut: number, batch: number, peers: number, repeats: number, minMs: number): CodesTargetRow {
  const { m, n } = chooseCode(peers)
  const { s, X, D, shards, xs, ds, fwd, bwd, fwdMax, bwdMax, maxErrors } = setup(nIn, nOut, batch, peers, m, n)
  const shardMap = new Map(shards.map((sh, p) => [p, sh]))
  const upd = matrix(shards[0].rows, shards[0].cols, shards[0].data.slice())
  check(s.decode('forward', fwdMax, { mode: 'adversarial' }).ok, 'forward decode with max errors')
  check(s.decode('backward', bwdMax, { mode: 'adversarial' }).ok, 'backward decode with max errors')
  const t = measure({
    forward: () => s.compute('forward', shards[0], xs[0]),
    backward: () => s.compute('backward', shards[0], ds[0]),
    update: () => s.applyUpdate(upd, D, X, 1e-3, 0),
    encode: () => { s.encodeForwardInput(X, 0); s.encodeBackwardInput(D, 0) },
    decodeForward: () => s.decode('forward', fwd),
    decodeBackward: () => s.decode('backward', bwd),
    decodeForwardMax: () => s.decode('forward', fwdMax, { mode: 'adversarial' }),
    decodeBackwardMax: () => s.decode('backward', bwdMax, { mode: 'adversarial' }),
    repair: () => s.repairShard(shardMap, 0)
  }, repeats, minMs)
  const step = t.forward + t.backward + t.update
  const clean = t.encode + t.decodeForward + t.decodeBackward
  const max = t.encode + t.decodeForwardMax + t.decodeBackwardMax
  const overhead = { clean: clean / (step + clean), maxErrors: max / (step + max) }
  const repairOverGemm = t.repair / t.forward
  const applies = Math.min(nIn, nOut) >= CODES_TARGETS.minWidth
  return {
    layer: `${nIn}->${nOut}`, nOut, nIn, batch, peers, m, n, maxErrors,
    gemmMs: { forward: t.forward, backward: t.backward, update: t.update, step },
    codingMs: { encode: t.encode, decodeForward: t.decodeForward, decodeBackward: t.decodeBackward, decodeForwardMax: t.decodeForwardMax, decodeBackwardMax: t.decodeBackwardMax, clean, maxErrors: max },
    overhead,
    repairMs: t.repair,
    repairOverGemm,
    repairOverStepGemm: t.repair / step,
    met: {
      clean: applies ? overhead.clean <= CODES_TARGETS.clean : null,
      maxErrors: applies ? overhead.maxErrors <= CODES_TARGETS.maxErrors : null,
      repair: applies ? repairOverGemm <= CODES_TARGETS.repairOverGemm : null
    }
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
const verdict = (ok: boolean | null): string => ok === null ? 'n/a' : ok ? 'met' : 'MISSED'

export async function runCodesBench (opts: CodesBenchOptions): Promise<CodesBenchResult> {
  const quick = opts.quick === true
  const repeats = quick ? 3 : 9
  const minMs = quick ? 1 : 20
  const layers: Array<[number, number]> = quick ? [[128, 64]] : [[784, 128], [128, 64]]
  const batches = quick ? [4] : [16, 1]
  const codes: Array<[number, number, number]> = [[6, chooseCode(6).m, chooseCode(6).n], [12, chooseCode(12).m, chooseCode(12).n]]
  const targetLayers: Array<[number, number]> = quick ? [[512, 512]] : [[784, 128], [512, 512], [1024, 1024]]
  const rows: CodesBenchRow[] = []
  const targets: CodesTargetRow[] = []
  const w = (s: string): void => { opts.out.write(s + '\n') }
  const yieldToLoop = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
  w(`codes bench (${quick ? 'quick' : 'full'}), gemm kernel ${gemmKernelName()}, CPU time: each operation as a multiple of the peer's own GEMM W~_p·x~_p`)
  const head = ['layer', 'B', 'P', 'm,n', 'Qf/Qb', 'gemm ms', ...CODES_BENCH_OPERATIONS]
  w(head.map(h => h.padStart(10)).join(' '))
  for (const [nIn, nOut] of layers) {
    for (const batch of batches) {
      for (const [P, m, n] of codes) {
        const row = benchOne(nIn, nOut, batch, P, m, n, repeats, minMs)
        rows.push(row)
        w([row.layer, String(batch), String(P), `${m},${n}`, `${row.thresholds.forward}/${row.thresholds.backward}`, row.gemmMs.toFixed(4),
          ...CODES_BENCH_OPERATIONS.map(k => row.ratio[k].toFixed(2) + 'x')].map(c => c.padStart(10)).join(' '))
        await yieldToLoop()
      }
    }
  }
  w(`decodeMax corrects the adversarial maximum ⌊(P−Q)/2⌋ errors; detect = Q+1 results with one error (refused).`)
  const batch = opts.batch ?? CODES_TARGET_BATCH; const peers = 6
  const { m, n } = chooseCode(peers)
  w('')
  w(`targets (P = ${peers}, m,n = ${m},${n}, B = ${batch}): coding = encode both inputs + decode both products (detection included), as % of the peer's step CPU`)
  w(`on the layer (forward + backward + update GEMMs + coding); max errors = ⌊(P−Q)/2⌋ in each phase. Targets for layers ≥ ${CODES_TARGETS.minWidth} wide:`)
  w(`coding ≤ ${pct(CODES_TARGETS.clean)} clean, ≤ ${pct(CODES_TARGETS.maxErrors)} at max errors; repair ≤ ${CODES_TARGETS.repairOverGemm}× the peer's GEMM W~_p·x~_p.`)
  const thead = ['layer', 'step gemm ms', 'clean', 'max errors', 'repair/gemm', 'repair/step', 'clean', 'max err', 'repair']
  w(thead.map((h, i) => h.padStart(i === 0 ? 10 : 12)).join(' '))
  for (const [nIn, nOut] of targetLayers) {
    const r = benchTarget(nIn, nOut, batch, peers, quick ? repeats : 15, minMs)
    targets.push(r)
    w([r.layer, r.gemmMs.step.toFixed(4), pct(r.overhead.clean), pct(r.overhead.maxErrors), r.repairOverGemm.toFixed(2) + 'x', r.repairOverStepGemm.toFixed(2) + 'x',
      verdict(r.met.clean), verdict(r.met.maxErrors), verdict(r.met.repair)].map((c, i) => c.padStart(i === 0 ? 10 : 12)).join(' '))
    await yieldToLoop()
  }
  const result: CodesBenchResult = { benchmark: 'codes', kernel: gemmKernelName(), quick, repeats, timer: 'cpu', rows, targets, node: process.version }
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n')
  return result
}
