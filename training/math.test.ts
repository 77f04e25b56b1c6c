import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ACTIVATIONS } from './activations.ts'
import { softmaxCrossEntropy } from './loss.ts'
import { matrix } from '../codes/matrix.ts'
import { createRng, permutation, rngFromState } from './rng.ts'
import { BatchOrder } from './batches.ts'
import { initModel } from './model.ts'

describe('activation table', () => {
  for (const [name, rule] of Object.entries(ACTIVATIONS)) {
    it(`${name}: df matches finite differences of f`, () => {
      fc.assert(fc.property(fc.double({ min: -6, max: 6, noNaN: true }).filter(x => Math.abs(x) > 1e-3), (x) => {
        const h = 1e-6
        const f = (v: number): number => rule.f(Float64Array.of(v), new Float64Array(1))[0]
        const fd = (f(x + h) - f(x - h)) / (2 * h)
        const d = rule.df(Float64Array.of(x), new Float64Array(1))[0]
        expect(Math.abs(fd - d)).toBeLessThan(1e-5)
      }))
    })
  }
})

describe('softmax cross-entropy', () => {
  it('gradient matches finite differences of the mean loss', () => {
    const rng = createRng(3)
    const C = 5; const B = 4
    const z = matrix(C, B, Array.from({ length: C * B }, () => 3 * rng.normal()))
    const labels = [0, 3, 4, 1]
    const r = softmaxCrossEntropy(z, labels)
    const h = 1e-6
    for (let i = 0; i < z.data.length; i++) {
      const zp = matrix(C, B, z.data.slice()); zp.data[i] += h
      const zm = matrix(C, B, z.data.slice()); zm.data[i] -= h
      const fd = (softmaxCrossEntropy(zp, labels).loss - softmaxCrossEntropy(zm, labels).loss) / (2 * h)
      expect(Math.abs(fd - r.grad.data[i])).toBeLessThan(1e-7)
    }
    for (let b = 0; b < B; b++) {
      let s = 0
      for (let c = 0; c < C; c++) s += r.probs.data[c * B + b]
      expect(s).toBeCloseTo(1, 12)
    }
  })

  it('is stable for huge logits', () => {
    const r = softmaxCrossEntropy(matrix(2, 1, [1000, -1000]), [1])
    expect(Number.isFinite(r.loss)).toBe(true)
    expect(r.loss).toBeCloseTo(2000, 6)
  })
})

describe('seeded randomness and batch order', () => {
  it('an rng resumes exactly from its saved state', () => {
    const a = createRng(7, 'x')
    for (let i = 0; i < 10; i++) a.u32()
    const b = rngFromState(a.state())
    for (let i = 0; i < 100; i++) expect(b.u32()).toBe(a.u32())
  })

  it('every epoch is a permutation; every peer computes the same batches', () => {
    const o1 = new BatchOrder(5, 103, 10)
    const o2 = new BatchOrder(5, 103, 10)
    expect(o1.stepsPerEpoch).toBe(10)
    for (const e of [0, 1]) {
      const seen = new Set<number>()
      for (let k = 0; k < 10; k++) {
        const idx = o1.indices(e * 10 + k)
        expect(Array.from(idx)).toEqual(Array.from(o2.indices(e * 10 + k)))
        for (const i of idx) seen.add(i)
      }
      expect(seen.size).toBe(100)
    }
    expect(Array.from(o1.indices(0))).not.toEqual(Array.from(o1.indices(10)))
    expect(Array.from(permutation(5, createRng(1))).sort()).toEqual([0, 1, 2, 3, 4])
  })

  it('initial weights are identical for a seed and He-scaled for relu', () => {
    const a = initModel([100, 50, 10], 'relu', 3)
    const b = initModel([100, 50, 10], 'relu', 3)
    expect(a.layers[0].w.data).toEqual(b.layers[0].w.data)
    let ss = 0
    for (const v of a.layers[0].w.data) ss += v * v
    expect(ss / a.layers[0].w.data.length).toBeGreaterThan(0.015)
    expect(ss / a.layers[0].w.data.length).toBeLessThan(0.025)
  })
})
