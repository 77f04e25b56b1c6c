import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { loadMnistWithBoundaries } from './mnist.ts'

describe('MNIST split (docs/design.md §Data)', () => {
  const { dataset, boundaries } = loadMnistWithBoundaries()

  it('has 7,996 train and 2,004 test images of 784 pixels in [0, 1]', () => {
    expect(dataset.train.count).toBe(7996)
    expect(dataset.test.count).toBe(2004)
    expect(dataset.inputSize).toBe(784)
    let lo = Infinity; let hi = -Infinity
    for (const v of dataset.train.x) { lo = Math.min(lo, v); hi = Math.max(hi, v) }
    expect(lo).toBe(0)
    expect(hi).toBeLessThanOrEqual(1)
  })

  it('splits every digit at ⌊0.8·L_d⌋, train first, in file order (no shuffle)', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits')
    let trainOff = 0; let testOff = 0
    for (const b of boundaries) {
      const raw = (JSON.parse(readFileSync(join(dir, `${b.digit}.json`), 'utf8')) as { data: number[] }).data
      expect(b.images).toBe(raw.length / 784)
      expect(b.trainEnd).toBe(Math.floor(0.8 * b.images))
      // First train image of the digit is the file's image 0; first test image is image trainEnd.
      expect(Array.from(dataset.train.x.subarray(trainOff * 784, trainOff * 784 + 784))).toEqual(raw.slice(0, 784).map(v => Math.fround(v)))
      const t0 = b.trainEnd * 784
      expect(Array.from(dataset.test.x.subarray(testOff * 784, testOff * 784 + 784))).toEqual(raw.slice(t0, t0 + 784).map(v => Math.fround(v)))
      for (let k = 0; k < b.trainEnd; k++) expect(dataset.train.y[trainOff + k]).toBe(b.digit)
      for (let k = 0; k < b.images - b.trainEnd; k++) expect(dataset.test.y[testOff + k]).toBe(b.digit)
      trainOff += b.trainEnd; testOff += b.images - b.trainEnd
    }
    expect(trainOff).toBe(7996)
    expect(testOff).toBe(2004)
  })
})
