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
    copyToColumn(x.data, B, b, split.x, s * inputSize, inputSize)
  }
  return { x, labels }
}

/**
 * dst[i·stride + col] = src[off + i] for i < n. Its own function so V8 optimises it once and for
 * all: as the inner loop of batchOf it was compiled on-stack at every batch and deoptimised at
 * its exit (V8's "exit from OSR'd inner loop"), a recompilation per step on every peer.
 */
function copyToColumn (dst: Float64Array, stride: number, col: number, src: ArrayLike<number>, off: number, n: number): void {
  for (let i = 0; i < n; i++) dst[i * stride + col] = src[off + i]
}
