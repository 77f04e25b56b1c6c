/**
 * Accuracy of a decoded (uncoded) model, and the weights-export format of docs/design.md §Weights export:
 *   { "activation": "relu", "layers": [ { "rows", "cols", "weights": [row-major], "bias": [rows] } ] }
 * with the last layer followed by softmax. `evaluateWeightsFile` reads such a file back
 * and measures it independently of the run that wrote it.
 */
import { readFileSync } from 'node:fs'
import type { Dataset, Split } from './dataset.ts'
import { batchOf } from './dataset.ts'
import { argmaxColumn } from './loss.ts'
import { forwardLogits, type Model } from './model.ts'
import type { Activation } from './config.ts'

export class WeightsFormatError extends Error {
  override name = 'WeightsFormatError'
}

export interface WeightsExport {
  activation: Activation
  layers: Array<{ rows: number, cols: number, weights: Array<number | null>, bias: Array<number | null> }>
}

/** Fraction of the split's samples whose arg-max logit equals the label. */
export function accuracy (model: Model, split: Split, inputSize: number, chunk = 500): number {
  let correct = 0
  for (let s = 0; s < split.count; s += chunk) {
    const idx = Array.from({ length: Math.min(chunk, split.count - s) }, (_, i) => s + i)
    const { x, labels } = batchOf(split, inputSize, idx)
    const logits = forwardLogits(model, x)
    for (let b = 0; b < labels.length; b++) if (argmaxColumn(logits, b) === labels[b]) correct++
  }
  return split.count === 0 ? 0 : correct / split.count
}

export function testAccuracy (model: Model, dataset: Dataset): number {
  return accuracy(model, dataset.test, dataset.inputSize)
}

/** Non-finite values (a diverged run) are written as null, which JSON can carry. */
export function exportWeights (model: Model): WeightsExport {
  const fin = (v: number): number | null => Number.isFinite(v) ? v : null
  return {
    activation: model.activation,
    layers: model.layers.map(l => ({ rows: l.w.rows, cols: l.w.cols, weights: Array.from(l.w.data, fin), bias: Array.from(l.b, fin) }))
  }
}

const MAX_PARAMS = 1 << 26

export function importWeights (json: unknown): Model {
  const j = json as Partial<WeightsExport>
  if (typeof j !== 'object' || j === null) throw new WeightsFormatError('weights file is not a JSON object')
  if (j.activation !== 'relu' && j.activation !== 'sigmoid' && j.activation !== 'tanh') throw new WeightsFormatError(`activation must be relu|sigmoid|tanh, got ${String(j.activation)}`)
  if (!Array.isArray(j.layers) || j.layers.length === 0) throw new WeightsFormatError('weights file has no layers')
  let params = 0
  const layers = j.layers.map((l, i) => {
    if (!Number.isInteger(l.rows) || !Number.isInteger(l.cols) || l.rows < 1 || l.cols < 1) throw new WeightsFormatError(`layer ${i}: rows and cols must be positive integers`)
    params += l.rows * l.cols
    if (params > MAX_PARAMS) throw new WeightsFormatError(`more than ${MAX_PARAMS} parameters`)
    if (!Array.isArray(l.weights) || l.weights.length !== l.rows * l.cols) throw new WeightsFormatError(`layer ${i}: weights must have rows·cols = ${l.rows * l.cols} numbers`)
    if (!Array.isArray(l.bias) || l.bias.length !== l.rows) throw new WeightsFormatError(`layer ${i}: bias must have ${l.rows} numbers`)
    if (i > 0 && l.cols !== j.layers![i - 1].rows) throw new WeightsFormatError(`layer ${i} has ${l.cols} inputs but layer ${i - 1} has ${j.layers![i - 1].rows} outputs`)
    const num = (v: unknown, what: string): number => {
      if (v === null) return NaN // written by a diverged run
      if (typeof v !== 'number') throw new WeightsFormatError(`layer ${i}: ${what} holds a non-number`)
      return v
    }
    return {
      w: { rows: l.rows, cols: l.cols, data: Float64Array.from(l.weights, v => num(v, 'weights')) },
      b: Float64Array.from(l.bias, v => num(v, 'bias'))
    }
  })
  return { activation: j.activation, layers }
}

export function evaluateWeightsFile (path: string, dataset: Dataset): { accuracy: number, model: Model } {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new WeightsFormatError(`cannot read weights file ${path}: ${(err as Error).message}`)
  }
  const model = importWeights(json)
  if (model.layers[0].w.cols !== dataset.inputSize) throw new WeightsFormatError(`the model takes ${model.layers[0].w.cols} inputs, the dataset has ${dataset.inputSize}`)
  return { accuracy: testAccuracy(model, dataset), model }
}
