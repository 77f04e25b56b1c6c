/** Shared helpers of the codes/ tests (random matrices, configurations, error injection). */
import { type Matrix, matrix } from './matrix.ts'
import { createRng, createGaussian } from './random.ts'
import { PolyDotScheme } from './polydot.ts'

export function randomMatrix (rows: number, cols: number, seed: number): Matrix {
  const g = createGaussian(createRng(seed))
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, () => g()))
}

/** Every (P, m, n) with P ≤ maxPeers that a PolyDot code supports. */
export function polydotConfigs (maxPeers: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = []
  for (let P = 1; P <= maxPeers; P++) {
    for (let m = 1; m <= P; m++) {
      for (let n = 1; n <= P; n++) if (Math.max(m * n + n - 1, 2 * m * n - n) <= P) out.push([P, m, n])
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

export type ErrorKind = 'gaussian' | 'huge' | 'tiny' | 'nan' | 'inf' | 'zero' | 'bitflip' | 'copy' | 'negate'
export const ERROR_KINDS: ErrorKind[] = ['gaussian', 'huge', 'tiny', 'nan', 'inf', 'zero', 'bitflip', 'copy', 'negate']

/**
 * A corrupted copy of y. `tiny` adds a perturbation of relative size `tinyScale` (just
 * above the detection tolerance: small but significant). `copy` replaces y by `other`
 * (a different honest result). `bitflip` flips one bit of the exponent or high mantissa
 * of one entry.
 */
export function corrupt (y: Matrix, kind: ErrorKind, rng: () => number, other: Matrix, tinyScale: number): Matrix {
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
