import { describe, expect, it } from 'vitest'
import { copyFloat64LE, firstNonFiniteLE, readFloat64LE, writeFloat64LE } from './float64-le.ts'

/** `values` as little-endian float64 bytes starting at byte `offset` of a larger buffer (any alignment). */
function bytesOf (values: number[], offset: number): Uint8Array {
  const out = new Uint8Array(offset + 8 * values.length + 3)
  const dv = new DataView(out.buffer)
  values.forEach((v, i) => dv.setFloat64(offset + 8 * i, v, true))
  return out
}

describe('float64 little-endian bytes', () => {
  it('finds the first NaN or ±Infinity where the bytes lie, at any offset, and nothing among finite values', () => {
    // Every kind of float64: the extremes of the finite range, subnormals, signed zeros, and the
    // non-finite ones, including NaNs with payloads (any mantissa under an all-ones exponent).
    const nanPayload = new DataView(new ArrayBuffer(8))
    nanPayload.setUint32(0, 0x7ff00000 | 0x12345, false); nanPayload.setUint32(4, 1, false)
    const negNan = new DataView(new ArrayBuffer(8))
    negNan.setUint32(0, 0xfff80000, false)
    const finite = [0, -0, 1, -1, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2.2250738585072014e-308, 1e308, 1.7976931348623155e308, 0.1, -3.5e-300]
    const nonFinite = [NaN, Infinity, -Infinity, nanPayload.getFloat64(0), negNan.getFloat64(0)]
    for (const offset of [0, 1, 3, 6, 7, 8]) {
      expect(firstNonFiniteLE(bytesOf(finite, offset), offset, finite.length)).toBe(-1)
      for (const bad of nonFinite) {
        for (const at of [0, 5, finite.length]) {
          const vs = [...finite.slice(0, at), bad, ...finite.slice(at)]
          // The raw bits, not the number (a NaN's payload survives setFloat64 on V8, but be exact).
          const b = bytesOf(vs, offset)
          if (Number.isNaN(bad)) new Uint8Array(b.buffer, offset + 8 * at, 8).set(new Uint8Array(Float64Array.of(bad).buffer))
          expect(firstNonFiniteLE(b, offset, vs.length)).toBe(at)
        }
      }
    }
    // A count short of the bad value does not see it.
    const b = bytesOf([1, 2, NaN], 5)
    expect(firstNonFiniteLE(b, 5, 2)).toBe(-1)
  })

  it('copies into an array at an index, as readFloat64LE reads and writeFloat64LE writes', () => {
    const values = Float64Array.from({ length: 37 }, (_, i) => (i - 18) * 1.25e-3 + (i % 3 === 0 ? 1e200 : 0))
    for (const offset of [0, 3, 8]) {
      const bytes = new Uint8Array(offset + 8 * values.length)
      writeFloat64LE(values, 0, values.length, bytes, offset)
      expect(readFloat64LE(bytes, offset, values.length)).toEqual(values)
      const out = new Float64Array(50).fill(-1)
      copyFloat64LE(bytes, offset + 8 * 2, 30, out, 7)
      expect(out.subarray(7, 37)).toEqual(values.subarray(2, 32))
      expect(out[6]).toBe(-1)
      expect(out[37]).toBe(-1)
    }
  })
})
