/** The decoder's rules in isolation, and the shape of what robustDecode returns. */
import { describe, expect, it } from 'vitest'
import { chebyshevPoints, chebVandermonde } from './chebyshev.ts'
import { robustDecode, type PeerVector } from './decode.ts'
import type { Agreement } from './decode/fit.ts'
import { acceptsAgreement, errorBound, unambiguous } from './decode/search.ts'
import { createGaussian, createRng } from './random.ts'

function agreement (members: number[], residual: number[]): Agreement {
  return { members, fit: { pinv: new Float64Array(0), residual: Float64Array.from(residual) } }
}

/** Results of a random degree < q vector polynomial (length L) at P Chebyshev points. */
function codeword (P: number, q: number, L: number, seed: number): { points: Float64Array, results: PeerVector[] } {
  const g = createGaussian(createRng(seed))
  const points = chebyshevPoints(P)
  const V = chebVandermonde(points, q)
  const C = Float64Array.from({ length: q * L }, () => g())
  const results = Array.from({ length: P }, (_, p) => {
    const data = new Float64Array(L)
    for (let c = 0; c < L; c++) for (let k = 0; k < q; k++) data[c] += V[p * q + k] * C[k * L + c]
    return { peer: p, data }
  })
  return { points, results }
}

describe('decode rules', () => {
  it('adversarial mode accepts at most ⌊(R − q)/2⌋ disagreeing, probabilistic any q + 1 agreeing', () => {
    expect(errorBound('adversarial', 8, 3)).toBe(2)
    expect(errorBound('probabilistic', 8, 3)).toBe(4)
    expect(acceptsAgreement('adversarial', 8, 3, 6)).toBe(true)
    expect(acceptsAgreement('adversarial', 8, 3, 5)).toBe(false)
    expect(acceptsAgreement('probabilistic', 8, 3, 4)).toBe(true)
    expect(acceptsAgreement('probabilistic', 8, 3, 3)).toBe(false)
  })

  it('of several accepted sets takes the only one fitting to rounding, else none', () => {
    const tol = 1e-6
    const clean = agreement([0, 1, 2, 3], [1e-12, 1e-12, 1e-12, 1e-12, 5e-7])
    const absorbed = agreement([0, 1, 2, 4], [3e-7, 1e-12, 1e-12, 9e-7, 4e-7])
    expect(unambiguous([absorbed], tol)).toBe(absorbed)
    expect(unambiguous([absorbed, clean], tol)).toBe(clean)
    expect(unambiguous([absorbed, absorbed], tol)).toBeNull()
    expect(unambiguous([clean, clean], tol)).toBeNull()
  })
})

describe('robustDecode', () => {
  it('corrects a gross error and reports the peer', () => {
    const { points, results } = codeword(9, 4, 5, 1)
    results[6].data[2] += 10
    const r = robustDecode(points, 4, [], results, { mode: 'adversarial', tolerance: 1e-8 })
    expect(r).toMatchObject({ ok: true, faulty: [6], used: [0, 1, 2, 3, 4, 5, 7, 8] })
  })

  it('refusals carry only ok, reason and suspects', () => {
    const { points, results } = codeword(6, 4, 3, 2)
    results[1].data[0] += 1
    results[4].data[1] -= 1
    results[5].data[2] = NaN
    for (const mode of ['adversarial', 'probabilistic'] as const) {
      const r = robustDecode(points, 4, [], results, { mode, tolerance: 1e-8 })
      expect(r.ok).toBe(false)
      expect(Object.keys(r).sort()).toEqual(['ok', 'reason', 'suspects'])
    }
  })
})
