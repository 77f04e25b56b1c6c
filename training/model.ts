/**
 * The fully connected model: layer shapes and the seeded initial parameters every peer
 * computes identically (He for relu, Xavier otherwise; biases zero), plus the plain
 * uncoded forward pass used by evaluation and as the simulator's ground truth.
 */
import { type Matrix, zeros } from '../codes/matrix.ts'
import { gemm } from '../codes/gemm/index.ts'
import type { Activation } from './config.ts'
import { activationRule } from './activations.ts'
import { createRng } from './rng.ts'

export interface LayerShape {
  /** N_out */
  rows: number
  /** N_in */
  cols: number
}

export interface Layer {
  w: Matrix
  b: Float64Array
}

export interface Model {
  activation: Activation
  layers: Layer[]
}

export function layerShapes (widths: readonly number[]): LayerShape[] {
  if (widths.length < 2) throw new Error('a model needs at least two widths')
  const out: LayerShape[] = []
  for (let l = 1; l < widths.length; l++) out.push({ rows: widths[l], cols: widths[l - 1] })
  return out
}

/** Identical on every peer for the same seed. */
export function initModel (widths: readonly number[], activation: Activation, seed: number): Model {
  const layers = layerShapes(widths).map((s, l) => {
    const rng = createRng(seed, 'init', l)
    const std = activation === 'relu' ? Math.sqrt(2 / s.cols) : Math.sqrt(2 / (s.cols + s.rows))
    const w = zeros(s.rows, s.cols)
    for (let i = 0; i < w.data.length; i++) w.data[i] = std * rng.normal()
    return { w, b: new Float64Array(s.rows) }
  })
  return { activation, layers }
}

/** s = W·x + b (columns are samples); b broadcast over columns, in place on s. */
export function addBias (s: Matrix, b: Float64Array): Matrix {
  const B = s.cols
  for (let r = 0; r < s.rows; r++) {
    const v = b[r]
    for (let c = 0; c < B; c++) s.data[r * B + c] += v
  }
  return s
}

/** Logits (C × B) of an uncoded model for inputs X (N_in × B). */
export function forwardLogits (model: Model, x: Matrix): Matrix {
  const act = activationRule(model.activation)
  let a = x
  model.layers.forEach((layer, l) => {
    const s = addBias(gemm(layer.w, a), layer.b)
    if (l < model.layers.length - 1) act.f(s.data, s.data)
    a = s
  })
  return a
}
