/**
 * Generalized PolyDot codes (Dutta et al., ISIT 2018) in a numerically stable
 * Chebyshev form, behind `CodeScheme`.
 *
 * W (N_out × N_in) is split into m × n blocks W_ij. Peer p owns the Chebyshev point
 * v_p = cos((2p+1)π/(2P)) and stores
 *     W~_p = Σ_ij W_ij · a_i(v_p) · b_j(v_p),   a_i = T_{n·i},  b_j = T_j,
 * a polynomial of degree ≤ mn − 1 in v with matrix coefficients (span{T_{ni}T_j} is all of
 * P_{mn−1}, so any mn shards determine every shard). Forward inputs are encoded with the
 * dual family c_j, backward inputs with d_i, and the wanted blocks are read off the
 * product polynomial by functionals L_i / K_j — all derived once in `derive.ts`. The
 * stored shard keeps the product form a_i·b_j, so the training update
 * W ← W − η Δ Xᵀ is an exact rank-B update of each shard (no re-encoding):
 *     W~_p ← W~_p − η (Σ_i a_i(v_p) Δ_i) (Σ_j b_j(v_p) X_j)ᵀ.
 * Thresholds: forward results have degree ≤ mn + n − 2 ⇒ Q_fwd = mn + n − 1; backward
 * degree ≤ 2mn − n − 1 ⇒ Q_bwd = 2mn − n. n = 1 is an MDS code on row blocks; m = 1 is
 * MatDot-like. Q results determine a product but cannot check it: a decode needs Q + 1 (and
 * shard repairs, audits and weight decodes mn + 1), so P ≥ max(Q_fwd, Q_bwd) + 1.
 */
import { gemm } from './gemm/index.ts'
import { type Matrix, ShapeError, fromBlocks, matrix, zeros } from './matrix.ts'
import { chebBasis, chebEval, chebMul, chebValues, chebyshevPoints, worstConditionInfo } from './chebyshev.ts'
import { derive } from './derive.ts'
import { robustDecode, type PeerVector, type RobustDecode } from './decode.ts'
import { CodeConfigError, CodeInputError, ConditionBudgetError, UncorrectableError } from './errors.ts'
import { invertSmall } from './linalg.ts'
import type { Capability, CodeScheme, DecodeMode, DecodeOptions, DecodeResult, Phase, ShardCheck, Thresholds } from './scheme.ts'

export const DEFAULT_CONDITION_BUDGET = 1e8
/** Upper bound on P: subset searches and derivations are sized for networks of tens of peers. */
export const MAX_PEERS = 64

export interface PolyDotOptions {
  /** Refuse configurations whose worst-case decoding condition number exceeds this (default 1e8). */
  conditionBudget?: number
}

export interface ShardOptions {
  /** Default 'probabilistic' (shard corruption comes from random faults). */
  mode?: DecodeMode
  tolerance?: number
}

/** Extra decode knobs beyond `DecodeOptions`. */
export interface PolyDotDecodeOptions extends DecodeOptions {
  /** Cap on candidate subsets examined by the error search (default 200,000). */
  maxCandidates?: number
  /**
   * Largest accepted relative shift of the decode by hidden errors (default ACCEPT_SHIFT =
   * 1e-7, codes/decode/leverage.ts). Infinity turns the leverage bounds off — diagnostics only.
   */
  acceptShift?: number
}

/**
 * Default consistency tolerance for a decode whose worst-case condition number is κ:
 * honest results carry rounding of a few ulps relative to their size, and predicting one
 * result from a fitted subset amplifies it by at most ≈ κ, so 1000·ε·κ leaves a wide margin
 * for honest results while flagging any error larger than that; floored at 1e-11. Honest
 * residuals measure ≤ 4e-15 up to width 2048 (codes/polydot.test.ts), so the floor keeps the
 * clean level (CLEAN_FRACTION·τ = 1e-13) well above them; a floor of 1e-9 let sub-tolerance
 * bit flips through that training then carried to 1.6e-9 in the final weights (soak seed 998).
 */
export function defaultTolerance (kappa: number): number {
  return Math.max(1e-11, 1e3 * Number.EPSILON * kappa)
}

interface PhaseCode {
  q: number
  functionals: Float64Array[]
  tolerance: number
  /** Worst cond₂ over q-subsets of the points, and whether every subset was measured. */
  kappa: number
  exhaustive: boolean
}

export class PolyDotScheme implements CodeScheme {
  readonly kind = 'polydot'
  readonly peers: number
  readonly m: number
  readonly n: number
  readonly points: Float64Array
  readonly recoveryThreshold: Thresholds
  readonly conditionNumber: Thresholds
  /** Whether each condition number was measured over every subset (false: sampled, a lower bound). */
  readonly conditionExhaustive: { forward: boolean, backward: boolean }
  /** Dual families as Chebyshev coefficients: forward input encoders c_j, backward d_i. */
  readonly forwardEncoders: Float64Array[]
  readonly backwardEncoders: Float64Array[]

  private readonly aAt: Float64Array[]
  private readonly bAt: Float64Array[]
  private readonly cAt: Float64Array[]
  private readonly dAt: Float64Array[]
  private readonly fwd: PhaseCode
  private readonly bwd: PhaseCode
  private readonly shard: PhaseCode

  constructor (peers: number, m: number, n: number, opts: PolyDotOptions = {}) {
    for (const [k, v] of [['peers', peers], ['m', m], ['n', n]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new CodeConfigError(`polydot: ${k} must be a positive integer, got ${v}`)
    }
    if (peers > MAX_PEERS) throw new CodeConfigError(`polydot: at most ${MAX_PEERS} peers, got ${peers}`)
    const qf = m * n + n - 1
    const qb = 2 * m * n - n
    if (peers < Math.max(qf, qb)) {
      throw new CodeConfigError(`polydot m=${m},n=${n} needs at least ${Math.max(qf, qb)} peers (Q_fwd=${qf}, Q_bwd=${qb}), got ${peers}`)
    }
    // A decode is accepted only when it can be checked (R ≥ Q + 1): with P = Q a phase could
    // never decode, so such a code is refused here rather than stalling every round.
    if (peers === Math.max(qf, qb)) {
      throw new CodeConfigError(`polydot m=${m},n=${n} on ${peers} peers has no redundancy in the ${qb >= qf ? 'backward' : 'forward'} phase (Q_fwd=${qf}, Q_bwd=${qb}): every decode needs Q + 1 results to be checked, so at least ${peers + 1} peers`)
    }
    const budget = opts.conditionBudget ?? DEFAULT_CONDITION_BUDGET
    this.peers = peers; this.m = m; this.n = n
    this.points = chebyshevPoints(peers)
    this.recoveryThreshold = { forward: qf, backward: qb }
    const cf = worstConditionInfo(this.points, qf)
    const cb = worstConditionInfo(this.points, qb)
    this.conditionNumber = { forward: cf.value, backward: cb.value }
    this.conditionExhaustive = { forward: cf.exhaustive, backward: cb.exhaustive }
    for (const [phase, c, q] of [['forward', cf, qf], ['backward', cb, qb]] as const) {
      if (!(c.value <= budget)) {
        throw new ConditionBudgetError(
          `polydot m=${m},n=${n} on ${peers} peers: worst-case ${phase} condition number ${c.value.toExponential(2)} over ${q}-subsets exceeds the budget ${budget.toExponential(2)}`,
          budget, c.value)
      }
    }
    const a = Array.from({ length: m }, (_, i) => chebBasis(n * i))
    const b = Array.from({ length: n }, (_, j) => chebBasis(j))
    const f = derive(a, b, qf - 1)
    const g = derive(b, a, qb - 1)
    this.forwardEncoders = f.dual
    this.backwardEncoders = g.dual
    const P = peers
    this.aAt = Array.from({ length: P }, (_, p) => Float64Array.from(a, ai => chebEval(ai, this.points[p])))
    this.bAt = Array.from({ length: P }, (_, p) => Float64Array.from(b, bj => chebEval(bj, this.points[p])))
    this.cAt = Array.from({ length: P }, (_, p) => Float64Array.from(f.dual, cj => chebEval(cj, this.points[p])))
    this.dAt = Array.from({ length: P }, (_, p) => Float64Array.from(g.dual, di => chebEval(di, this.points[p])))
    this.fwd = { q: qf, functionals: f.functionals, tolerance: defaultTolerance(cf.value), kappa: cf.value, exhaustive: cf.exhaustive }
    this.bwd = { q: qb, functionals: g.functionals, tolerance: defaultTolerance(cb.value), kappa: cb.value, exhaustive: cb.exhaustive }
    // Shards: coefficients C (mn) = M · blocks; block functionals are the rows of M⁻¹.
    const qs = m * n
    const M = Array.from({ length: qs }, () => new Float64Array(qs))
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const prod = chebMul(a[i], b[j])
        for (let k = 0; k < prod.length; k++) if (prod[k] !== 0) M[k][i * n + j] = prod[k]
      }
    }
    const Minv = invertSmall(M)
    if (Minv === null) throw new CodeConfigError('polydot: shard basis is singular')
    const cs = worstConditionInfo(this.points, qs)
    this.shard = { q: qs, functionals: Minv, tolerance: defaultTolerance(cs.value), kappa: cs.value, exhaustive: cs.exhaustive }
  }

  correctable (phase: Phase, received: number): Capability {
    const q = phase === 'forward' ? this.recoveryThreshold.forward : this.recoveryThreshold.backward
    return { adversarial: Math.max(0, Math.floor((received - q) / 2)), probabilistic: Math.max(0, received - q - 1) }
  }

  /** Default consistency tolerance of a phase (see `defaultTolerance`). */
  tolerance (phase: Phase | 'shard'): number {
    return phase === 'forward' ? this.fwd.tolerance : phase === 'backward' ? this.bwd.tolerance : this.shard.tolerance
  }

  private checkPeer (peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.peers) throw new CodeInputError(`peer ${peer} is not in 0..${this.peers - 1}`)
  }

  /** Shard coefficients a_i(v_p)·b_j(v_p), index i·n + j. */
  shardWeights (peer: number): Float64Array {
    this.checkPeer(peer)
    const out = new Float64Array(this.m * this.n)
    for (let i = 0; i < this.m; i++) for (let j = 0; j < this.n; j++) out[i * this.n + j] = this.aAt[peer][i] * this.bAt[peer][j]
    return out
  }

  encodeShard (w: Matrix, peer: number): Matrix {
    this.checkPeer(peer)
    const { m, n } = this
    if (w.rows % m !== 0 || w.cols % n !== 0) throw new ShapeError(`polydot: W is ${w.rows}x${w.cols}, not divisible into ${m}x${n} blocks`)
    const br = w.rows / m; const bc = w.cols / n
    const out = zeros(br, bc)
    const o = out.data; const src = w.data
    const coef = this.shardWeights(peer)
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const c = coef[i * n + j]
        if (c === 0) continue
        for (let r = 0; r < br; r++) {
          const s0 = (i * br + r) * w.cols + j * bc
          const o0 = r * bc
          for (let k = 0; k < bc; k++) o[o0 + k] += c * src[s0 + k]
        }
      }
    }
    return out
  }

  /** Σ_k w_k · (row block k of x), blocks = w.length equal row blocks. */
  private combineRowBlocks (x: Matrix, w: Float64Array, what: string): Matrix {
    const K = w.length
    if (x.rows % K !== 0) throw new ShapeError(`polydot: ${what} has ${x.rows} rows, not divisible into ${K} blocks`)
    const br = x.rows / K
    const len = br * x.cols
    const out = zeros(br, x.cols)
    const o = out.data; const d = x.data
    let first = true
    for (let k = 0; k < K; k++) {
      const c = w[k]
      if (c === 0) continue
      const off = k * len
      // The first block written, not added to zeros: c·d + 0 is 0 + c·d bit for bit (−0 → +0).
      if (first) for (let t = 0; t < len; t++) o[t] = c * d[off + t] + 0
      else for (let t = 0; t < len; t++) o[t] += c * d[off + t]
      first = false
    }
    return out
  }

  encodeForwardInput (x: Matrix, peer: number): Matrix {
    this.checkPeer(peer)
    return this.combineRowBlocks(x, this.cAt[peer], 'X')
  }

  encodeBackwardInput (delta: Matrix, peer: number): Matrix {
    this.checkPeer(peer)
    return this.combineRowBlocks(delta, this.dAt[peer], 'Δ')
  }

  compute (phase: Phase, shard: Matrix, encodedInput: Matrix): Matrix {
    return phase === 'forward' ? gemm(shard, encodedInput) : gemm(shard, encodedInput, undefined, { transA: true })
  }

  decode (phase: Phase, results: ReadonlyMap<number, Matrix>, opts: PolyDotDecodeOptions = {}): DecodeResult {
    const code = phase === 'forward' ? this.fwd : this.bwd
    const blocks = phase === 'forward' ? this.m : this.n
    const { vectors, misshapen, rows, cols } = this.collect(results)
    if (vectors.length === 0) return { ok: false, reason: 'no results', suspects: misshapen }
    const r = robustDecode(this.points, code.q, code.functionals, vectors, {
      mode: opts.mode ?? 'probabilistic',
      tolerance: opts.tolerance ?? code.tolerance,
      maxCandidates: opts.maxCandidates,
      acceptShift: opts.acceptShift,
      colluders: opts.colluders,
      conditionNumber: code.exhaustive ? code.kappa : undefined
    })
    if (!r.ok) return { ok: false, reason: r.reason, suspects: merge(r.suspects, misshapen) }
    // The K = blocks outputs, each rows × cols, one after the other: the row blocks of the value.
    const value = matrix(blocks * rows, cols, r.data)
    return { ok: true, value, used: r.used, faulty: merge(r.faulty, misshapen), residual: r.residual }
  }

  /** Validates peers; results whose shape differs from the majority's count as faulty. */
  private collect (results: ReadonlyMap<number, Matrix>): { vectors: PeerVector[], misshapen: number[], rows: number, cols: number } {
    const count = new Map<string, number>()
    for (const [peer, y] of results) {
      this.checkPeer(peer)
      const k = `${y.rows}x${y.cols}`
      count.set(k, (count.get(k) ?? 0) + 1)
    }
    let best = ''; let bestN = 0
    for (const [k, c] of count) if (c > bestN) { best = k; bestN = c }
    const vectors: PeerVector[] = []; const misshapen: number[] = []
    let rows = 0; let cols = 0
    for (const [peer, y] of results) {
      if (`${y.rows}x${y.cols}` === best && y.data.length === y.rows * y.cols) {
        vectors.push({ peer, data: y.data }); rows = y.rows; cols = y.cols
      } else misshapen.push(peer)
    }
    // By peer, not by arrival: the decode is then a function of the set of results alone, the
    // same to the last bit at every peer that holds that set (a fit's rounding, and which of
    // two equally good subsets a search meets first, follow the order of its inputs).
    vectors.sort((a, b) => a.peer - b.peer)
    return { vectors, misshapen, rows, cols }
  }

  applyUpdate (shard: Matrix, delta: Matrix, x: Matrix, lr: number, peer: number): void {
    this.checkPeer(peer)
    if (delta.cols !== x.cols) throw new ShapeError(`polydot update: Δ has ${delta.cols} columns, X has ${x.cols}`)
    if (delta.rows !== this.m * shard.rows || x.rows !== this.n * shard.cols) {
      throw new ShapeError(`polydot update: shard ${shard.rows}x${shard.cols} does not match Δ ${delta.rows}x${delta.cols} and X ${x.rows}x${x.cols} for m=${this.m}, n=${this.n}`)
    }
    const dc = this.combineRowBlocks(delta, this.aAt[peer], 'Δ')
    const xc = this.combineRowBlocks(x, this.bAt[peer], 'X')
    gemm(dc, xc, shard, { transB: true, alpha: -lr, beta: 1 })
  }

  /**
   * Shards are values of one polynomial of degree < mn, so they decode like results with
   * Q = mn: at least mn + 1 shards, the agreeing set passing the mode's rule and the
   * leverage bound (codes/decode.ts), or a refusal.
   */
  private decodeShards (shards: ReadonlyMap<number, Matrix>, functionals: Float64Array[], opts: ShardOptions, exclude?: number): { r: RobustDecode, rows: number, cols: number, misshapen: number[], count: number } {
    const given = new Map(shards)
    if (exclude !== undefined) given.delete(exclude)
    const { vectors, misshapen, rows, cols } = this.collect(given)
    if (vectors.length === 0) return { r: { ok: false, reason: 'no shards', suspects: [] }, rows, cols, misshapen, count: 0 }
    const r = robustDecode(this.points, this.shard.q, functionals, vectors, {
      mode: opts.mode ?? 'probabilistic',
      tolerance: opts.tolerance ?? this.shard.tolerance,
      conditionNumber: this.shard.exhaustive ? this.shard.kappa : undefined
    })
    return { r, rows, cols, misshapen, count: vectors.length }
  }

  /**
   * Peer `target`'s shard rebuilt from the others: needs at least mn + 1 of them, and rebuilds
   * from the set that agrees on one code word (the mode's rule and the leverage bound). Throws
   * UncorrectableError otherwise (too few shards, no agreeing set, leverage): mn shards always
   * lie on some code word, so a repair from them would be unchecked.
   */
  repairShard (shards: ReadonlyMap<number, Matrix>, target: number, opts: ShardOptions = {}): Matrix {
    this.checkPeer(target)
    const { r, rows, cols, misshapen } = this.decodeShards(shards, [chebValues(this.points[target], this.shard.q)], opts, target)
    if (!r.ok) throw new UncorrectableError(`cannot repair shard ${target}: ${r.reason}`, merge(r.suspects, misshapen))
    return matrix(rows, cols, r.outputs[0])
  }

  checkShards (shards: ReadonlyMap<number, Matrix>, opts: ShardOptions = {}): ShardCheck {
    const { r, misshapen, count } = this.decodeShards(shards, [], opts)
    // ≤ mn shards always lie on a code word: nothing is checked, so nothing is "consistent".
    if (count <= this.shard.q) return { consistent: false, faulty: misshapen, decidable: false }
    if (!r.ok) return { consistent: false, faulty: merge(r.suspects, misshapen), decidable: false }
    const faulty = merge(r.faulty, misshapen)
    return { consistent: faulty.length === 0, faulty, decidable: true }
  }

  decodeWeights (shards: ReadonlyMap<number, Matrix>, opts: ShardOptions = {}): Matrix {
    const { r, rows, cols, misshapen } = this.decodeShards(shards, this.shard.functionals, opts)
    if (!r.ok) throw new UncorrectableError(`cannot decode weights: ${r.reason}`, merge(r.suspects, misshapen))
    const grid: Matrix[][] = []
    for (let i = 0; i < this.m; i++) {
      grid.push([])
      for (let j = 0; j < this.n; j++) grid[i].push(matrix(rows, cols, r.outputs[i * this.n + j]))
    }
    return fromBlocks(grid)
  }
}

function merge (a: number[], b: number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y)
}

export function createPolyDot (peers: number, m: number, n: number, opts: PolyDotOptions = {}): PolyDotScheme {
  return new PolyDotScheme(peers, m, n, opts)
}
