/** Shared helpers of the codes/ tests (random matrices, configurations, error injection). */
import { type Matrix, matrix } from './matrix.ts'
import { mulberry32, createGaussian } from './random.ts'
import { PolyDotScheme } from './polydot.ts'
import { createScheme } from './index.ts'
import { CodeConfigError } from './errors.ts'
import { chebValues, chebVandermonde } from './chebyshev.ts'
import { pinvTall } from './linalg.ts'
import { Matrix as MlMatrix, SVD } from 'ml-matrix'

export function randomMatrix (rows: number, cols: number, seed: number): Matrix {
  const g = createGaussian(mulberry32(seed))
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => g()))
}

/**
 * Every (P, m, n) with P ≤ maxPeers that a PolyDot code supports: P > max(Q_fwd, Q_bwd), so
 * that every decode can be checked (the condition budget is not applied here; see `acceptedCodes`).
 */
export function polydotConfigs (maxPeers: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let P = 1; P <= maxPeers; P++) {
    for (let m = 1; m <= P; m++) {
      for (let n = 1; n <= P; n++) if (Math.max(m * n + n - 1, 2 * m * n - n) < P) out.push([P, m, n])
    }
  }
  return out
}

/**
 * Every (P, m, n) with P ≤ maxPeers that the job validator accepts for `--strategy codenet
 * --code polydot:m=M,n=N`: training/config.ts requires m·n ≤ P (and m, n ≤ 64) and then
 * lets the code judge — `createScheme` (thresholds, redundancy, condition budget) — so this
 * asks the same codes-level constructor rather than copying its rules.
 */
export function acceptedCodes (maxPeers: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let P = 1; P <= maxPeers; P++) {
    for (let m = 1; m <= Math.min(P, 64); m++) {
      for (let n = 1; m * n <= P && n <= 64; n++) {
        try {
          schemes.set(`${P}:${m}:${n}`, createScheme({ kind: 'polydot', peers: P, m, n }) as PolyDotScheme)
          out.push([P, m, n])
        } catch (e) {
          if (!(e instanceof CodeConfigError)) throw e
        }
      }
    }
  }
  return out
}

const schemes = new Map<string, PolyDotScheme>()
export function polydot (P: number, m: number, n: number): PolyDotScheme {
  const key = `${P}:${m}:${n}`
  let s = schemes.get(key)
  if (s === undefined) { s = new PolyDotScheme(P, m, n); schemes.set(key, s) }
  return s
}

/** Ways a decoder test corrupts a result (wider than training's soft-error kinds, training/soft-errors.ts). */
export type DecoderErrorKind = 'gaussian' | 'huge' | 'tiny' | 'nan' | 'inf' | 'zero' | 'bitflip' | 'copy' | 'negate'
export const DECODER_ERROR_KINDS: DecoderErrorKind[] = ['gaussian', 'huge', 'tiny', 'nan', 'inf', 'zero', 'bitflip', 'copy', 'negate']

/**
 * A corrupted copy of y. `tiny` adds a perturbation of relative size `tinyScale` (just
 * above the detection tolerance: small but significant). `copy` replaces y by `other`
 * (a different honest result). `bitflip` flips one bit of the exponent or high mantissa
 * of one entry.
 */
export function corrupt (y: Matrix, kind: DecoderErrorKind, rng: () => number, other: Matrix, tinyScale: number): Matrix {
  const d = y.data.slice()
  const gauss = createGaussian(rng)
  let norm = 0
  for (const v of y.data) norm += v * v
  norm = Math.sqrt(norm) || 1
  switch (kind) {
    case 'gaussian': for (let i = 0; i < d.length; i++) d[i] += gauss() * norm / Math.sqrt(d.length); break
    case 'huge': d[Math.floor(rng() * d.length)] += 1e30 * (rng() + 0.5); break
    case 'tiny': {
      const e = Array.from(d, () => gauss())
      const en = Math.sqrt(e.reduce((s, v) => s + v * v, 0)) || 1
      for (let i = 0; i < d.length; i++) d[i] += e[i] / en * norm * tinyScale
      break
    }
    case 'nan': d[Math.floor(rng() * d.length)] = NaN; break
    case 'inf': d[Math.floor(rng() * d.length)] = -Infinity; break
    case 'zero': d.fill(0); break
    case 'bitflip': {
      // The largest entry, so the flip is significant for the whole vector.
      let i = 0
      for (let k = 1; k < d.length; k++) if (Math.abs(d[k]) > Math.abs(d[i])) i = k
      const view = new DataView(new ArrayBuffer(8))
      view.setFloat64(0, d[i] === 0 ? 1 : d[i])
      const bit = 48 + Math.floor(rng() * 15) // top mantissa or exponent bits
      const byte = 7 - (bit >> 3)
      view.setUint8(byte, view.getUint8(byte) ^ (1 << (bit & 7)))
      d[i] = view.getFloat64(0)
      break
    }
    case 'copy': d.set(other.data); break
    case 'negate': for (let i = 0; i < d.length; i++) d[i] = -d[i]; break
  }
  return { rows: y.rows, cols: y.cols, data: d }
}

/** k distinct integers from 0..n−1, seeded. */
export function sample (n: number, k: number, rng: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (n - i))
    const t = a[i]; a[i] = a[j]; a[j] = t
  }
  return a.slice(0, k).sort((x, y) => x - y)
}

/** `count` integers from 0..n−1: a contiguous run starting at a random place (adjacent Chebyshev points: the worst leverage). */
export function cluster (n: number, count: number, rng: () => number): number[] {
  const start = Math.floor(rng() * (n - count + 1))
  return Array.from({ length: count }, (_, i) => start + i)
}

/** 1 − h_ii of every peer of `present` in the least-squares fit of degree < q at their points (the fit's freedom at each). */
export function freedoms (points: ArrayLike<number>, present: readonly number[], q: number): Float64Array {
  const V = chebVandermonde(present.map(p => points[p]), q)
  const R = present.length
  const ps = pinvTall(V, R, q)
  const out = new Float64Array(R)
  for (let i = 0; i < R; i++) {
    let h = 0
    if (ps !== null) for (let d = 0; d < q; d++) h += V[i * q + d] * ps[d * R + i]
    out[i] = ps === null ? 0 : 1 - h
  }
  return out
}

function unitDirection (length: number, rng: () => number): Float64Array {
  const g = createGaussian(rng)
  const w = Float64Array.from({ length }, () => g())
  let n = 0
  for (const v of w) n += v * v
  n = Math.sqrt(n) || 1
  for (let i = 0; i < length; i++) w[i] /= n
  return w
}

/** The decoder's scale of a set of results: the median of their norms. */
export function medianNorm (ys: readonly Matrix[]): number {
  const n = ys.map(y => { let s = 0; for (const v of y.data) s += v * v; return Math.sqrt(s) }).sort((a, b) => a - b)
  return n[n.length >> 1]
}

/**
 * max_j |(I − H)_ji| for every peer i of `present` (H the hat matrix of the fit of degree < q):
 * the largest residual, on any result, that a unit error on result i leaves.
 */
export function residualReach (points: ArrayLike<number>, present: readonly number[], q: number): Float64Array {
  const V = chebVandermonde(present.map(p => points[p]), q)
  const R = present.length
  const ps = pinvTall(V, R, q)
  const out = new Float64Array(R)
  if (ps === null) return out
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      let h = 0
      for (let d = 0; d < q; d++) h += V[j * q + d] * ps[d * R + i]
      out[i] = Math.max(out[i], Math.abs((i === j ? 1 : 0) - h))
    }
  }
  return out
}

/**
 * Errors hidden by leverage: the `count` peers of `present` with the highest leverage
 * (smallest 1 − h_ii) each get an error in a random direction sized so that the largest
 * residual it leaves on any result of the fit of all of `present` is
 * `fraction`·tolerance·scale — just within the tolerance for fraction < 1, so the decoder's
 * consistency check alone does not flag it (several such errors may add up beyond it).
 */
export function leverageErrors (
  ys: readonly Matrix[], points: ArrayLike<number>, present: readonly number[], q: number,
  count: number, tolerance: number, fraction: number, rng: () => number
): { results: Map<number, Matrix>, wrong: number[] } {
  const free = freedoms(points, present, q)
  const reach = residualReach(points, present, q)
  const order = present.map((_, i) => i).sort((a, b) => free[a] - free[b])
  const scale = medianNorm(present.map(p => ys[p]))
  const results = new Map(present.map(p => [p, ys[p]]))
  const wrong: number[] = []
  for (const i of order.slice(0, count)) {
    const p = present[i]
    const size = fraction * tolerance * scale / Math.max(reach[i], 1e-300)
    const w = unitDirection(ys[p].data.length, rng)
    results.set(p, { rows: ys[p].rows, cols: ys[p].cols, data: ys[p].data.map((v, k) => v + size * w[k]) })
    wrong.push(p)
  }
  return { results, wrong: wrong.sort((a, b) => a - b) }
}

/**
 * Colluders: every peer in `colluders` adds s·p(v_peer) of ONE polynomial p of degree < q
 * (vector-valued, the results' shape), so their results lie on another code word. `size` is
 * ‖p‖ relative to the results' scale. Direction 'random': Gaussian coefficients; 'hidden':
 * p = u·wᵀ with u the coefficient vector smallest on the honest points (the last right
 * singular vector of their Chebyshev–Vandermonde matrix) — the hardest shift to see.
 * `shift(p)` is the value p adds at any peer (to build the other code word in full).
 */
export function collude (
  ys: readonly Matrix[], points: ArrayLike<number>, present: readonly number[], colluders: readonly number[], q: number,
  size: number, direction: 'random' | 'hidden', rng: () => number
): { results: Map<number, Matrix>, shift: (peer: number) => Float64Array } {
  const L = ys[present[0]].data.length
  const scale = medianNorm(present.map(p => ys[p]))
  const C = new Float64Array(q * L)
  if (direction === 'random') {
    const g = createGaussian(rng)
    let n = 0
    for (let i = 0; i < C.length; i++) { C[i] = g(); n += C[i] * C[i] }
    n = Math.sqrt(n) || 1
    for (let i = 0; i < C.length; i++) C[i] /= n
  } else {
    const honest = present.filter(p => !colluders.includes(p))
    const V = chebVandermonde(honest.map(p => points[p]), q)
    const M = new MlMatrix(Math.max(honest.length, q), q)
    for (let i = 0; i < honest.length; i++) for (let j = 0; j < q; j++) M.set(i, j, V[i * q + j])
    const u = new SVD(M, { autoTranspose: false }).rightSingularVectors.getColumn(q - 1)
    const w = unitDirection(L, rng)
    for (let j = 0; j < q; j++) for (let k = 0; k < L; k++) C[j * L + k] = u[j] * w[k]
  }
  const shift = (peer: number): Float64Array => {
    const v = chebValues(points[peer], q)
    const out = new Float64Array(L)
    for (let j = 0; j < q; j++) { const a = size * scale * v[j]; if (a !== 0) for (let k = 0; k < L; k++) out[k] += a * C[j * L + k] }
    return out
  }
  const results = new Map(present.map(p => [p, ys[p]]))
  for (const p of colluders) {
    const d = shift(p)
    results.set(p, { rows: ys[p].rows, cols: ys[p].cols, data: ys[p].data.map((v, k) => v + d[k]) })
  }
  return { results, shift }
}
