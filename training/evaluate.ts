/**
 * Accuracy of a decoded (uncoded) model, and the weights-export format of docs/design.md §Weights export:
 *   { "activation": "relu", "layers": [ { "rows", "cols", "weights": [row-major], "bias": [rows] } ] }
 * with the last layer followed by softmax — or the same numbers as safetensors
 * (training/safetensors.ts) when the file name ends in .safetensors. `evaluateWeightsFile`
 * reads either back and measures it independently of the run that wrote it.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { decodeSafetensors, encodeSafetensors, looksLikeSafetensors, SafetensorsError, SAFETENSORS_EXTENSION } from './safetensors.ts'
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

/**
 * Largest absolute difference between two weights exports (every weight and bias; a null —
 * a non-finite value — counts as infinitely far). Tests and soaks compare decoded models with it.
 */
export function weightsMaxAbsDiff (a: WeightsExport, b: WeightsExport): number {
  let d = 0
  const gap = (x: number | null, y: number | null | undefined): number => x === null || y === null || y === undefined ? Infinity : Math.abs(x - y)
  a.layers.forEach((l, k) => {
    l.weights.forEach((v, j) => { d = Math.max(d, gap(v, b.layers[k]?.weights[j])) })
    l.bias.forEach((v, j) => { d = Math.max(d, gap(v, b.layers[k]?.bias[j])) })
  })
  return d
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

/** The format a weights file is written in: its extension decides (.safetensors, else JSON). */
export function weightsFormatOf (path: string): 'safetensors' | 'json' {
  return path.toLowerCase().endsWith(SAFETENSORS_EXTENSION) ? 'safetensors' : 'json'
}

/** The bytes of a weights export in the format the path's extension names. */
export function encodeWeights (path: string, w: WeightsExport): Uint8Array | string {
  return weightsFormatOf(path) === 'safetensors' ? encodeSafetensors(w) : `${JSON.stringify(w)}\n`
}

/** Writes a weights export as JSON, or as safetensors when the path ends in .safetensors. */
export function writeWeightsFile (path: string, w: WeightsExport): void {
  writeFileSync(path, encodeWeights(path, w))
}

/** A weights file of either format (told apart by its bytes, not its name). */
export function readWeightsFile (path: string): Model {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new WeightsFormatError(`cannot read weights file ${path}: ${(err as Error).message}`)
  }
  if (looksLikeSafetensors(bytes)) {
    try {
      return importWeights(decodeSafetensors(bytes))
    } catch (err) {
      if (err instanceof SafetensorsError) throw new WeightsFormatError(`${path}: ${err.message}`)
      throw err
    }
  }
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new WeightsFormatError(`cannot read weights file ${path}: ${(err as Error).message}`)
  }
  return importWeights(json)
}

export function evaluateWeightsFile (path: string, dataset: Dataset): { accuracy: number, model: Model } {
  const model = readWeightsFile(path)
  if (model.layers[0].w.cols !== dataset.inputSize) throw new WeightsFormatError(`the model takes ${model.layers[0].w.cols} inputs, the dataset has ${dataset.inputSize}`)
  return { accuracy: testAccuracy(model, dataset), model }
}

export interface Confusion {
  samples: number
  accuracy: number
  /** confusion[true class][predicted class] = samples. */
  matrix: number[][]
}

/** Accuracy and confusion matrix of a model on a split (rows: the true class, columns: the prediction). */
export function confusion (model: Model, split: Split, inputSize: number, classes: number, chunk = 500): Confusion {
  // Sized for whichever is larger, the data's classes or the model's outputs, so no prediction falls outside.
  const k = Math.max(classes, model.layers[model.layers.length - 1].w.rows)
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  let correct = 0
  for (let s = 0; s < split.count; s += chunk) {
    const idx = Array.from({ length: Math.min(chunk, split.count - s) }, (_, i) => s + i)
    const { x, labels } = batchOf(split, inputSize, idx)
    const logits = forwardLogits(model, x)
    for (let b = 0; b < labels.length; b++) {
      const p = argmaxColumn(logits, b)
      matrix[labels[b]][p]++
      if (p === labels[b]) correct++
    }
  }
  return { samples: split.count, accuracy: split.count === 0 ? 0 : correct / split.count, matrix }
}
