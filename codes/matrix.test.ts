import { describe, expect, it } from 'vitest'
import { fromRows, maxAbs } from './matrix.ts'

describe('maxAbs', () => {
  it('is the largest magnitude, 0 when empty', () => {
    expect(maxAbs(fromRows([[1, -7], [3, 2]]))).toBe(7)
    expect(maxAbs(new Float64Array(0))).toBe(0)
    expect(maxAbs(Float64Array.of(-Infinity, 1))).toBe(Infinity)
  })

  it('is NaN when any entry is NaN, wherever it stands', () => {
    expect(maxAbs(Float64Array.of(NaN, 1, 2))).toBeNaN()
    expect(maxAbs(Float64Array.of(5, NaN, 1))).toBeNaN()
    expect(maxAbs(Float64Array.of(1, 2, NaN))).toBeNaN()
  })
})
