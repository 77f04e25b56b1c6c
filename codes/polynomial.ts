/**
 * Polynomial codes for C = A·B (Yu, Maddah-Ali, Avestimehr 2017) in a Chebyshev-stable form.
 *
 * A (M × K) is split into m row blocks A_i, B (K × N) into n column blocks B_j. Worker p
 * at the Chebyshev point v_p multiplies Ã_p = Σ_i A_i T_i(v_p) by B̃_p = Σ_j B_j T_{jm}(v_p).
 * Ã·B̃ = Σ_ij A_iB_j T_i T_{jm} is a polynomial of degree ≤ mn − 1, and since
 * T_i T_{jm} = ½(T_{i+jm} + T_{jm−i}) its Chebyshev coefficient i + jm is (½ or 1)·A_iB_j plus
 * at most the term ½A_{m−i}B_{j+1} of the next column block: a triangular map. Any mn
 * results determine every A_iB_j (decoded with the same erasure/error decoder as PolyDot),
 * and like every decode of it a result is accepted only when checked: mn + 1 results at least,
 * within the leverage bound (codes/decode.ts).
 * Not a CodeScheme: this is a one-shot product of two matrices, not a trained layer.
 */
import { gemm } from './gemm/index.ts'
import { type Matrix, ShapeError, fromBlocks, matrix, zeros } from './matrix.ts'
import { chebBasis, chebMul, chebValues, chebyshevPoints, worstConditionInfo } from './chebyshev.ts'
import { robustDecode, type PeerVector } from './decode.ts'
import { CodeConfigError, CodeInputError, ConditionBudgetError } from './errors.ts'
import { invertSmall } from './linalg.ts'
import { DEFAULT_CONDITION_BUDGET, defaultTolerance } from './polydot.ts'
import type { DecodeOptions } from './scheme.ts'

export type ProductDecode =
  | { ok: true, value: Matrix, used: number[], faulty: number[], residual: number }
  | { ok: false, reason: string, suspects: number[] }

export class PolynomialCode {
  readonly peers: number
  readonly m: number
  readonly n: number
  readonly points: Float64Array
  /** mn: any mn results determine the product; a decode needs mn + 1 (one to check them). */
  readonly recoveryThreshold: number
  readonly conditionNumber: number
  private readonly functionals: Float64Array[]
  private readonly tolerance: number

  constructor (peers: number, m: number, n: number, opts: { conditionBudget?: number } = {}) {
    for (const [k, v] of [['peers', peers], ['m', m], ['n', n]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new CodeConfigError(`polynomial code: ${k} must be a positive integer, got ${v}`)
    }
    if (peers < m * n) throw new CodeConfigError(`polynomial code m=${m},n=${n} needs at least ${m * n} peers, got ${peers}`)
    this.peers = peers; this.m = m; this.n = n
    this.points = chebyshevPoints(peers)
    this.recoveryThreshold = m * n
    const budget = opts.conditionBudget ?? DEFAULT_CONDITION_BUDGET
    this.conditionNumber = worstConditionInfo(this.points, m * n).value
    if (!(this.conditionNumber <= budget)) {
      throw new ConditionBudgetError(`polynomial code m=${m},n=${n} on ${peers} peers: condition number ${this.conditionNumber.toExponential(2)} exceeds the budget ${budget.toExponential(2)}`, budget, this.conditionNumber)
    }
    const q = m * n
    const M = Array.from({ length: q }, () => new Float64Array(q))
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const prod = chebMul(chebBasis(i), chebBasis(j * m))
        for (let k = 0; k < prod.length; k++) if (prod[k] !== 0) M[k][i * n + j] = prod[k]
      }
    }
    const inv = invertSmall(M)
    if (inv === null) throw new CodeConfigError('polynomial code: coefficient map is singular')
    this.functionals = inv
    this.tolerance = defaultTolerance(this.conditionNumber)
  }

  private check (peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.peers) throw new CodeInputError(`peer ${peer} is not in 0..${this.peers - 1}`)
  }

  /** Ã_p = Σ_i A_i T_i(v_p). */
  encodeA (a: Matrix, peer: number): Matrix {
    this.check(peer)
    if (a.rows % this.m !== 0) throw new ShapeError(`A has ${a.rows} rows, not divisible into ${this.m} blocks`)
    const t = chebValues(this.points[peer], this.m)
    const len = a.rows / this.m * a.cols
    const out = zeros(a.rows / this.m, a.cols)
    for (let i = 0; i < this.m; i++) for (let k = 0; k < len; k++) out.data[k] += t[i] * a.data[i * len + k]
    return out
  }

  /** B̃_p = Σ_j B_j T_{jm}(v_p) (column blocks). */
  encodeB (b: Matrix, peer: number): Matrix {
    this.check(peer)
    if (b.cols % this.n !== 0) throw new ShapeError(`B has ${b.cols} columns, not divisible into ${this.n} blocks`)
    const t = chebValues(this.points[peer], (this.n - 1) * this.m + 1)
    const bc = b.cols / this.n
    const out = zeros(b.rows, bc)
    for (let r = 0; r < b.rows; r++) {
      for (let j = 0; j < this.n; j++) {
        const w = t[j * this.m]
        for (let c = 0; c < bc; c++) out.data[r * bc + c] += w * b.data[r * b.cols + j * bc + c]
      }
    }
    return out
  }

  compute (encodedA: Matrix, encodedB: Matrix): Matrix {
    return gemm(encodedA, encodedB)
  }

  /** A·B from any ≥ mn results, correcting errors like `CodeScheme.decode`. */
  decode (results: ReadonlyMap<number, Matrix>, opts: DecodeOptions = {}): ProductDecode {
    const vectors: PeerVector[] = []
    let rows = -1; let cols = -1
    const misshapen: number[] = []
    for (const [p, y] of results) {
      this.check(p)
      if (rows < 0) { rows = y.rows; cols = y.cols }
      if (y.rows === rows && y.cols === cols) vectors.push({ peer: p, data: y.data }); else misshapen.push(p)
    }
    if (vectors.length === 0) return { ok: false, reason: 'no results', suspects: [] }
    const r = robustDecode(this.points, this.recoveryThreshold, this.functionals, vectors, {
      mode: opts.mode ?? 'probabilistic', tolerance: opts.tolerance ?? this.tolerance
    })
    if (!r.ok) return { ok: false, reason: r.reason, suspects: [...new Set([...r.suspects, ...misshapen])].sort((a, b) => a - b) }
    const grid: Matrix[][] = []
    for (let i = 0; i < this.m; i++) {
      grid.push([])
      for (let j = 0; j < this.n; j++) grid[i].push(matrix(rows, cols, r.outputs[i * this.n + j]))
    }
    return { ok: true, value: fromBlocks(grid), used: r.used, faulty: [...new Set([...r.faulty, ...misshapen])].sort((a, b) => a - b), residual: r.residual }
  }
}

export function createPolynomialCode (peers: number, m: number, n: number, opts: { conditionBudget?: number } = {}): PolynomialCode {
  return new PolynomialCode(peers, m, n, opts)
}
