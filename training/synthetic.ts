/**
 * A seeded, learnable classification task of any size, for tests and for models whose
 * input is not 784 wide: inputs x ~ N(0, 1)^d, label = arg-max of a fixed random
 * teacher T·x (d → classes). A linear model can fit it; a deeper one fits it faster.
 */
import type { Dataset, Split } from './dataset.ts'
import { createRng } from './rng.ts'

export interface SyntheticOptions {
  inputSize: number
  classes: number
  seed: number
  train?: number
  test?: number
}

export function syntheticDataset (opts: SyntheticOptions): Dataset {
  const { inputSize, classes, seed } = opts
  if (inputSize < 1 || classes < 2) throw new Error('synthetic data needs inputSize ≥ 1 and classes ≥ 2')
  const teacherRng = createRng(seed, 'synthetic-teacher')
  const teacher = new Float64Array(classes * inputSize)
  for (let i = 0; i < teacher.length; i++) teacher[i] = teacherRng.normal()
  const make = (count: number, label: string): Split => {
    const rng = createRng(seed, 'synthetic', label)
    const x = new Float32Array(count * inputSize)
    const y = new Uint8Array(count)
    for (let s = 0; s < count; s++) {
      for (let i = 0; i < inputSize; i++) x[s * inputSize + i] = rng.normal()
      let best = 0; let bv = -Infinity
      for (let c = 0; c < classes; c++) {
        let v = 0
        for (let i = 0; i < inputSize; i++) v += teacher[c * inputSize + i] * x[s * inputSize + i]
        if (v > bv) { bv = v; best = c }
      }
      y[s] = best
    }
    return { count, x, y }
  }
  return { name: 'synthetic', inputSize, classes, train: make(opts.train ?? 2048, 'train'), test: make(opts.test ?? 512, 'test') }
}
