/** The decoder's rules in isolation, and the shape of what robustDecode returns. */
import { describe, expect, it } from 'vitest'
import { chebyshevPoints, chebVandermonde } from './chebyshev.ts'
import { robustDecode, type PeerVector } from './decode.ts'
import { type Agreement, evaluateFunctionals, fitSet, receive } from './decode/fit.ts'
import { hiddenShift } from './decode/leverage.ts'
import { acceptsAgreement, errorBound, unambiguous } from './decode/search.ts'
import { createGaussian, mulberry32 } from './random.ts'
import { gemm } from './gemm/index.ts'
import { matrix } from './matrix.ts'
import { pinvTall } from './linalg.ts'

function agreement (members: number[], residual: number[]): Agreement {
  return { members, fit: { pinv: new Float64Array(0), residual: Float64Array.from(residual) } }
}

/** Results of a random degree < q vector polynomial (length L) at P Chebyshev points. */
function codeword (P: number, q: number, L: number, seed: number): { points: Float64Array, results: PeerVector[] } {
  const g = createGaussian(mulberry32(seed))
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

  it('of several clean sets takes the one within the adversarial bound (colluders on another code word)', () => {
    const tol = 1e-6
    // R = 8, q = 2: t = 3. Honest set of 6 (2 left out), colluders' set of 2 (6 left out).
    const honest = agreement([0, 1, 2, 3, 4, 5], [1e-12, 1e-12, 1e-12, 1e-12, 1e-12, 1e-12, 1, 1])
    const colluders = agreement([6, 7], [1, 1, 1, 1, 1, 1, 1e-12, 1e-12])
    expect(unambiguous([colluders, honest], tol, { R: 8, q: 2 })).toBe(honest)
    expect(unambiguous([colluders, honest], tol)).toBeNull()
    // Even when the colluders' set is the clean one (their polynomial small on the honest
    // results) and the honest set absorbed sub-tolerance colluders: the set within the bound.
    const absorbed = agreement([0, 1, 2, 3, 4, 5], [1e-12, 1e-12, 1e-12, 5e-7, 1e-12, 1e-12, 1, 1])
    const cleanColluders = agreement([4, 5, 6, 7], [1, 1, 1, 1, 1e-12, 1e-12, 1e-12, 1e-12])
    expect(unambiguous([cleanColluders, absorbed], tol, { R: 8, q: 2 })).toBe(absorbed)
    expect(unambiguous([cleanColluders, absorbed], tol)).toBe(cleanColluders)
    // Neither within the bound: ambiguous.
    expect(unambiguous([agreement([0, 1, 2, 3], new Array(8).fill(1e-12)), agreement([4, 5, 6, 7], new Array(8).fill(1e-12))], tol, { R: 8, q: 2 })).toBeNull()
  })
})

describe('leverage bounds', () => {
  it('refuses R = Q (nothing to check) and a point the others cannot see; accepts a spread set', () => {
    const q = 4
    const { points, results } = codeword(12, q, 3, 7)
    expect(robustDecode(points, q, [], results.slice(0, q), { mode: 'probabilistic', tolerance: 1e-8 }))
      .toEqual({ ok: false, reason: 'too few results to check (4 of 5)', suspects: [] })
    const spread = [0, 3, 6, 9, 11].map(p => results[p])
    expect(robustDecode(points, q, [Float64Array.from([1, 0, 0, 0])], spread, { mode: 'probabilistic', tolerance: 1e-8 }).ok).toBe(true)
    // With a target of 0 every decode would move by something: refused on leverage.
    const r = robustDecode(points, q, [Float64Array.from([1, 0, 0, 0])], spread, { mode: 'probabilistic', tolerance: 1e-8, acceptShift: 0 })
    expect(r.ok === false && r.reason).toMatch(/^leverage: an error hidden at peer \d+/)
  })

  it('the one-error bound equals the exact leave-one-out shift', () => {
    const q = 3
    const { points, results } = codeword(8, q, 4, 9)
    results[7].data[1] += 1e-6
    const received = receive(results.map(r => points[r.peer]), q, results.map(r => r.data))
    const all = results.map((_, i) => i)
    const fit = fitSet(received, all)!
    const F = [Float64Array.from([1, 0, 0])]
    const h = hiddenShift(received, all, fit, F, null)
    // DFBETA: the decode moves by exactly g_7·r_7/(1 − h_77) when result 7 is dropped.
    const dropped = fitSet(received, all.slice(0, 7))!
    const a = evaluateFunctionals(received, F, fit.pinv)[0]
    const b = evaluateFunctionals(received, F, dropped.pinv)[0]
    let d = 0
    for (let k = 0; k < a.length; k++) d += (a[k] - b[k]) ** 2
    expect(h.at).toBe(7)
    expect(Math.abs(h.shift - Math.sqrt(d)) / Math.sqrt(d)).toBeLessThan(1e-6)
  })
})

describe('robustDecode', () => {
  it('corrects a gross error and reports the peer', () => {
    const { points, results } = codeword(9, 4, 5, 1)
    results[6].data[2] += 10
    const r = robustDecode(points, 4, [], results, { mode: 'adversarial', tolerance: 1e-8 })
    expect(r).toMatchObject({ ok: true, faulty: [6], used: [0, 1, 2, 3, 4, 5, 7, 8] })
  })

  it('colluders on another code word: refused below q + f agreeing results, corrected with enough', () => {
    // P = 10, q = 6, two colluders (2 and 5). Their errors are g(x)·v with g of degree q − 1
    // vanishing at five honest points: with those five, the colluders lie exactly on the code
    // word f + g·v — q + 1 results agreeing on a wrong decode.
    const P = 10; const q = 6; const L = 5
    const { points, results } = codeword(P, q, L, 3)
    const F = [Float64Array.from({ length: q }, (_, d) => 1 / (d + 1))]
    const exact = robustDecode(points, q, F, results, { mode: 'adversarial', tolerance: 1e-8 })
    if (!exact.ok) throw new Error('the clean decode failed')
    const roots = [0, 1, 3, 4, 6]
    const g = (x: number): number => 50 * roots.reduce((acc, h) => acc * (x - points[h]), 1)
    for (const c of [2, 5]) for (let k = 0; k < L; k++) results[c].data[k] += g(points[c]) * (1 + k)
    const off = (r: ReturnType<typeof robustDecode>): number => {
      if (!r.ok) return NaN
      let d = 0; let n = 0
      for (let k = 0; k < r.data.length; k++) { d += (r.data[k] - exact.data[k]) ** 2; n += exact.data[k] ** 2 }
      return Math.sqrt(d / n)
    }
    // Eight results: six honest (q: too few to check alone) and the two colluders.
    const eight = results.filter(r => r.peer < 8)
    for (const mode of ['probabilistic', 'adversarial'] as const) {
      // The mode's rule alone takes the colluders' code word and flags the honest peer 7.
      const blind = robustDecode(points, q, F, eight, { mode, tolerance: 1e-8 })
      expect(blind).toMatchObject({ ok: true, faulty: [7] })
      expect(off(blind)).toBeGreaterThan(1e-3)
      // Told that two peers may collude, it refuses: 7 agreeing results are fewer than q + 2.
      const r = robustDecode(points, q, F, eight, { mode, tolerance: 1e-8, colluders: 2 })
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.reason).toMatch(/2 colluding peers \(7 of 8\)/)
      // All ten: eight honest results agree (q + 2); the colluders are flagged, the decode exact.
      const all = robustDecode(points, q, F, results, { mode, tolerance: 1e-8, colluders: 2 })
      expect(all).toMatchObject({ ok: true, faulty: [2, 5] })
      expect(off(all)).toBeLessThan(1e-12)
    }
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

describe('the decode is exactly the linear map of its fit', () => {
  // The outputs come from the row kernel (codes/gemm/rows.ts) in the pass that checks the fit:
  // bit for bit gemm(F·pinv, Y), whatever the size (JS or WASM kernel) or padding.
  for (const [P, q, L] of [[6, 2, 48], [6, 3, 12544], [7, 3, 1001], [12, 5, 3]] as const) {
    it(`P = ${P}, q = ${q}, L = ${L}: outputs are gemm(F·pinv, Y) bit for bit`, () => {
      const { points, results } = codeword(P, q, L, P * q + L)
      const F = [Float64Array.from({ length: q }, (_, d) => 1 / (d + 1)), Float64Array.from({ length: q }, (_, d) => (d % 2 === 0 ? 1 : -0.5))]
      const r = robustDecode(points, q, F, results, { mode: 'probabilistic', tolerance: 1e-8 })
      expect(r.ok).toBe(true)
      if (!r.ok) return
      const pinv = pinvTall(chebVandermonde(points, q), P, q)!
      const M = new Float64Array(F.length * P)
      for (let k = 0; k < F.length; k++) for (let d = 0; d < q; d++) for (let j = 0; j < P; j++) M[k * P + j] += F[k][d] * pinv[d * P + j]
      const Y = new Float64Array(P * L)
      results.forEach((x, i) => Y.set(x.data, i * L))
      const want = gemm(matrix(F.length, P, M), matrix(P, L, Y)).data
      expect(r.data.length).toBe(want.length)
      expect(r.data.every((v, i) => Object.is(v, want[i]))).toBe(true)
      expect(r.outputs.map(o => o.length)).toEqual([L, L])
    })
  }

  it('the same senders in another order: each order has its own fit (cached pseudo-inverses follow the order)', () => {
    const { points, results } = codeword(6, 2, 32, 4)
    const F = [Float64Array.from([1, 0]), Float64Array.from([0, 1])]
    const sorted = robustDecode(points, 2, F, results, { mode: 'probabilistic', tolerance: 1e-9 })
    const shuffled = robustDecode(points, 2, F, [0, 5, 1, 2, 3, 4].map(p => results[p]), { mode: 'probabilistic', tolerance: 1e-9 })
    expect(sorted.ok && shuffled.ok).toBe(true)
    if (!sorted.ok || !shuffled.ok) return
    expect(shuffled.used).toEqual([0, 1, 2, 3, 4, 5])
    for (let t = 0; t < sorted.data.length; t++) expect(Math.abs(shuffled.data[t] - sorted.data[t])).toBeLessThan(1e-12)
  })

  it('results whose squares over- or underflow decode as well (norms and residuals fall back to scaled sums)', () => {
    for (const scale of [1e160, 1e-150]) {
      const { points, results } = codeword(8, 3, 2048, 11)
      for (const x of results) for (let t = 0; t < x.data.length; t++) x.data[t] *= scale
      const F = [Float64Array.from([1, 0, 0])]
      const clean = robustDecode(points, 3, F, results, { mode: 'adversarial', tolerance: 1e-8 })
      expect(clean.ok).toBe(true)
      results[5].data[100] += 1e-3 * scale
      const r = robustDecode(points, 3, F, results, { mode: 'adversarial', tolerance: 1e-8 })
      expect(r).toMatchObject({ ok: true, faulty: [5] })
    }
  })
})
