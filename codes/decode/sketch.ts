/**
 * Sketches for the candidate search (codes/decode.ts): every result projected on a few
 * seeded Gaussian directions, so judging a candidate set costs a q×q-sized solve instead
 * of a full-vector fit. A set that agrees on its sketch is then confirmed on the full
 * vectors (fit.ts): the sketch only screens.
 */
import { gemm } from '../gemm/index.ts'
import { rowDots } from '../gemm/rows.ts'
import { type Matrix, zeros } from '../matrix.ts'
import { createGaussian, mulberry32 } from '../random.ts'
import { vector } from '../vectors.ts'
import { type Received, agrees, pinvOf, rowNorm, setScale, stacked } from './fit.ts'

/** Seeds the sketch directions, and the sampled candidate sets of the search. */
export const SKETCH_SEED = 0xc0de
const sketchCache = new Map<string, Matrix>()

/** L × k Gaussian directions, seeded by (L, k) so every peer sketches alike. */
export function sketchDirections (length: number, k: number): Matrix {
  const key = `${length}:${k}`
  let g = sketchCache.get(key)
  if (g === undefined) {
    const gauss = createGaussian(mulberry32(SKETCH_SEED ^ Math.imul(length, 2654435761) ^ k))
    g = zeros(length, k)
    for (let i = 0; i < g.data.length; i++) g.data[i] = gauss()
    if (sketchCache.size > 64) sketchCache.clear()
    sketchCache.set(key, g)
  }
  return g
}

/** The received results projected on k directions: R × k, with the norm of every row. */
export interface Sketch {
  k: number
  data: Float64Array
  norms: Float64Array
}

/**
 * The received results projected on k seeded directions: `gemm(Y, G)`, computed from the
 * resident rows by the row kernel where it reproduces that product bit for bit (k = 4, the
 * default), else by `gemm` on the stacked results.
 */
export function sketchOf (received: Received, k: number): Sketch {
  const G = sketchDirections(received.L, k)
  const data = rowDots(received.loaded, G) ?? gemm(stacked(received), G).data
  const norms = vector(received.R)
  for (let i = 0; i < received.R; i++) norms[i] = rowNorm(data, i * k, k)
  return { k, data, norms }
}

/** Whether every member of S agrees, on the sketches, with the least-squares fit of S. */
export function sketchAgrees (received: Received, sketch: Sketch, S: readonly number[], tolerance: number): boolean {
  const { q, V } = received
  const { k, data: Ysk } = sketch
  const ps = pinvOf(received, S)
  if (ps === null) return false
  const scale = setScale(sketch.norms, S)
  const C = vector(q * k)
  for (let d = 0; d < q; d++) {
    for (let a = 0; a < S.length; a++) {
      const w = ps[d * S.length + a]
      const row = S[a] * k
      for (let c = 0; c < k; c++) C[d * k + c] += w * Ysk[row + c]
    }
  }
  for (let a = 0; a < S.length; a++) {
    let ss = 0
    for (let c = 0; c < k; c++) {
      let s = Ysk[S[a] * k + c]
      for (let d = 0; d < q; d++) s -= V[S[a] * q + d] * C[d * k + c]
      ss += s * s
    }
    if (!agrees(Math.sqrt(ss) / scale, tolerance)) return false
  }
  return true
}
