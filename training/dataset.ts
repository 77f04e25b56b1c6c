/**
 * The in-memory dataset shape shared by MNIST, the synthetic generator and the datasets read
 * from files (training/data/): samples are stored sample-major (one row of `inputSize` values
 * per sample) and assembled into N_in × B batch matrices (one column per sample) on demand.
 */
import { type Matrix, zeros } from '../codes/matrix.ts'

/** Data that cannot be used (a malformed file, a missing package): one line naming the file and the place. */
export class DatasetError extends Error {
  override name = 'DatasetError'
}

export interface Split {
  count: number
  /** count × inputSize, row-major. */
  x: Float32Array
  /** count labels in 0..classes-1. */
  y: Uint8Array
}

export interface Dataset {
  name: string
  inputSize: number
  classes: number
  /** The class names in label order, when the labels were names (a CSV's string labels); else absent. */
  classNames?: string[]
  train: Split
  test: Split
}

/** X (inputSize × indices.length) and labels for the given sample indices. */
export function batchOf (split: Split, inputSize: number, indices: ArrayLike<number>): { x: Matrix, labels: Uint8Array } {
  const B = indices.length
  const x = zeros(inputSize, B)
  const labels = new Uint8Array(B)
  for (let b = 0; b < B; b++) {
    const s = indices[b]
    if (!(s >= 0 && s < split.count)) throw new RangeError(`sample ${s} out of ${split.count}`)
    labels[b] = split.y[s]
    const off = s * inputSize
    for (let i = 0; i < inputSize; i++) x.data[i * B + b] = split.x[off + i]
  }
  return { x, labels }
}
