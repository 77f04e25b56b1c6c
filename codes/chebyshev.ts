/**
 * Chebyshev points and basis, and the worst-case conditioning of decoding.
 *
 * Every coded scheme evaluates polynomials at Chebyshev points of the first kind and
 * expresses them in the Chebyshev basis T_k: the Chebyshev–Vandermonde matrices of any
 * subset of these points stay well conditioned far beyond where monomials on integer
 * points break down (docs/design.md §Conditioning).
 */
import { Matrix as MlMatrix, SVD } from 'ml-matrix'
import { CodeConfigError } from './errors.ts'
import { mulberry32 } from './random.ts'

/** v_p = cos((2p+1)π/(2P)), p = 0..P−1: the P Chebyshev points of the first kind. */
export function chebyshevPoints (count: number): Float64Array {
  if (!Number.isInteger(count) || count < 1) throw new CodeConfigError(`need a positive number of points, got ${count}`)
  const out = new Float64Array(count)
  for (let p = 0; p < count; p++) out[p] = Math.cos((2 * p + 1) * Math.PI / (2 * count))
  return out
}

/** T_0(x) … T_{count−1}(x) by the three-term recurrence (stable on [−1, 1]). */
export function chebValues (x: number, count: number): Float64Array {
  const out = new Float64Array(count)
  if (count > 0) out[0] = 1
  if (count > 1) out[1] = x
  for (let k = 2; k < count; k++) out[k] = 2 * x * out[k - 1] - out[k - 2]
  return out
}

/** T_k(x). */
export function chebT (k: number, x: number): number {
  return chebValues(x, k + 1)[k]
}

/** Σ_k c_k T_k(x). */
export function chebEval (coeffs: ArrayLike<number>, x: number): number {
  const t = chebValues(x, coeffs.length)
  let s = 0
  for (let k = 0; k < coeffs.length; k++) s += coeffs[k] * t[k]
  return s
}

/** Product of two Chebyshev series: T_a·T_b = ½(T_{a+b} + T_{|a−b|}). */
export function chebMul (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  if (a.length === 0 || b.length === 0) return new Float64Array(0)
  const out = new Float64Array(a.length + b.length - 1)
  for (let i = 0; i < a.length; i++) {
    if (a[i] === 0) continue
    for (let j = 0; j < b.length; j++) {
      const h = 0.5 * a[i] * b[j]
      out[i + j] += h
      out[Math.abs(i - j)] += h
    }
  }
  return out
}

/** The single basis polynomial T_k as a coefficient vector. */
export function chebBasis (k: number): Float64Array {
  const out = new Float64Array(k + 1)
  out[k] = 1
  return out
}

/** Row-major points.length × q matrix V[p][k] = T_k(v_p). */
export function chebVandermonde (points: ArrayLike<number>, q: number): Float64Array {
  const out = new Float64Array(points.length * q)
  for (let p = 0; p < points.length; p++) out.set(chebValues(points[p], q), p * q)
  return out
}

/** 2-norm condition number of a row-major matrix (ml-matrix SVD). */
export function conditionNumber (a: Float64Array, rows: number, cols: number): number {
  const m = new MlMatrix(rows, cols)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, a[i * cols + j])
  const s = new SVD(m, { computeLeftSingularVectors: false, computeRightSingularVectors: false, autoTranspose: true }).diagonal
  const smin = s[s.length - 1]
  return smin > 0 ? s[0] / smin : Infinity
}

export function binomial (n: number, k: number): number {
  if (k < 0 || k > n) return 0
  k = Math.min(k, n - k)
  let r = 1
  for (let i = 1; i <= k; i++) r = r * (n - k + i) / i
  return Math.round(r)
}

/** Calls visit(subset) for every k-subset of 0..n−1 in lexicographic order; stops when visit returns true. */
export function forEachSubset (n: number, k: number, visit: (subset: number[]) => boolean | undefined | void): boolean {
  if (k > n || k < 0) return false
  const idx = Array.from({ length: k }, (_, i) => i)
  for (;;) {
    if (visit(idx.slice()) === true) return true
    let i = k - 1
    while (i >= 0 && idx[i] === n - k + i) i--
    if (i < 0) return false
    idx[i]++
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1
  }
}

export interface WorstCondition {
  /** Largest cond₂ of the q × q Chebyshev–Vandermonde over the subsets examined. */
  value: number
  /** True when every q-subset was examined; false when sampled (see `worstConditionInfo`). */
  exhaustive: boolean
  /** How many subsets were examined. */
  subsets: number
  /** The subset attaining `value`. */
  worst: number[]
}

/** Beyond this many q-subsets the search samples instead of enumerating. */
export const EXHAUSTIVE_SUBSET_LIMIT = 20_000

const worstCache = new Map<string, WorstCondition>()

/**
 * Worst cond₂ of the q × q Chebyshev–Vandermonde over q-subsets of `points`.
 *
 * Every subset when C(P, q) ≤ 20,000. Otherwise a deterministic sample: the known worst
 * patterns (every contiguous run of q points, every split into a run at the +1 end and a
 * run at the −1 end, runs with one gap) plus seeded random subsets up to the limit; the
 * result is then a lower bound on the true worst case, flagged by `exhaustive: false`.
 * Cached per point set and q.
 */
export function worstConditionInfo (points: ArrayLike<number>, q: number): WorstCondition {
  const P = points.length
  if (!Number.isInteger(q) || q < 1 || q > P) throw new CodeConfigError(`threshold ${q} needs 1..${P} points`)
  const key = `${q}:${Array.from(points).join(',')}`
  const hit = worstCache.get(key)
  if (hit !== undefined) return hit
  const pts = Float64Array.from(points)
  let value = 0; let worst: number[] = []; let subsets = 0
  const consider = (s: number[]): void => {
    subsets++
    const c = conditionNumber(chebVandermonde(s.map(i => pts[i]), q), q, q)
    if (!(c <= value)) { value = c; worst = s }
  }
  const total = binomial(P, q)
  let exhaustive = true
  if (total <= EXHAUSTIVE_SUBSET_LIMIT) {
    forEachSubset(P, q, s => { consider(s) })
  } else {
    exhaustive = false
    const seen = new Set<string>()
    const add = (s: number[]): void => {
      const sorted = [...s].sort((a, b) => a - b)
      const k = sorted.join(',')
      if (seen.has(k) || sorted.length !== q) return
      seen.add(k); consider(sorted)
    }
    for (let a = 0; a + q <= P; a++) add(Array.from({ length: q }, (_, i) => a + i))
    for (let a = 0; a <= q; a++) add([...Array.from({ length: a }, (_, i) => i), ...Array.from({ length: q - a }, (_, i) => P - 1 - i)])
    for (let a = 0; a + q + 1 <= P; a++) {
      for (let gap = 1; gap < q; gap++) {
        const s = Array.from({ length: q + 1 }, (_, i) => a + i)
        s.splice(gap, 1); add(s)
      }
    }
    const rng = mulberry32(0x5eed ^ (P * 1009 + q))
    let guard = 0
    while (seen.size < EXHAUSTIVE_SUBSET_LIMIT && guard++ < 10 * EXHAUSTIVE_SUBSET_LIMIT) {
      const s = new Set<number>()
      while (s.size < q) s.add(Math.floor(rng() * P))
      add([...s])
    }
  }
  const info = { value, exhaustive, subsets, worst }
  worstCache.set(key, info)
  return info
}

/** Max over q-subsets of cond₂ of the q × q Chebyshev–Vandermonde (see `worstConditionInfo`). */
export function worstConditionNumber (points: ArrayLike<number>, q: number): number {
  return worstConditionInfo(points, q).value
}
