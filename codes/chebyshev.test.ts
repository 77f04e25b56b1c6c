import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { binomial, chebMul, chebEval, chebValues, chebVandermonde, chebyshevPoints, conditionNumber, forEachSubset, worstConditionInfo } from './chebyshev.ts'
import { pinvTall } from './linalg.ts'
import { derive } from './derive.ts'
import { chebBasis } from './chebyshev.ts'

describe('Chebyshev basis', () => {
  it('T_k(cos θ) = cos(kθ) and T_a·T_b = ½(T_{a+b} + T_{|a−b|})', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: Math.PI, noNaN: true }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }), (th, a, b) => {
      const x = Math.cos(th)
      expect(chebValues(x, 31)[a]).toBeCloseTo(Math.cos(a * th), 10)
      expect(chebEval(chebMul(chebBasis(a), chebBasis(b)), x)).toBeCloseTo(Math.cos(a * th) * Math.cos(b * th), 10)
    }))
  })

  it('enumerates subsets', () => {
    let c = 0
    forEachSubset(9, 4, () => { c++ })
    expect(c).toBe(binomial(9, 4))
  })

  it('pinvTall is a left inverse', () => {
    const V = chebVandermonde(chebyshevPoints(9), 5)
    const X = pinvTall(V, 9, 5)!
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) {
      let s = 0
      for (let k = 0; k < 9; k++) s += X[i * 9 + k] * V[k * 5 + j]
      expect(s).toBeCloseTo(i === j ? 1 : 0, 12)
    }
  })

  it('derivation functionals are exact for (m, n) up to (4, 4)', () => {
    for (let m = 1; m <= 4; m++) {
      for (let n = 1; n <= 4; n++) {
        const a = Array.from({ length: m }, (_, i) => chebBasis(n * i))
        const b = Array.from({ length: n }, (_, j) => chebBasis(j))
        expect(derive(a, b, m * n + n - 2).residual).toBeLessThan(1e-12)
        expect(derive(b, a, 2 * m * n - n - 1).residual).toBeLessThan(1e-12)
      }
    }
  })
})

describe('worst-case condition numbers', () => {
  it('table for P up to 30 (Chebyshev points, Chebyshev basis)', () => {
    const rows: string[] = []
    const table: Array<[number, number]> = [[6, 2], [6, 3], [8, 5], [8, 6], [10, 5], [12, 6], [15, 13], [16, 8], [16, 12], [20, 5], [20, 18], [24, 6], [30, 3], [30, 5], [30, 27], [30, 28]]
    const got = new Map<string, number>()
    for (const [P, Q] of table) {
      const pts = chebyshevPoints(P)
      const w = worstConditionInfo(pts, Q)
      // Monomial basis on the same points, for comparison (docs/design.md §Conditioning: 9.8e4 at P=15, Q=13).
      const V = new Float64Array(Q * Q)
      for (let r = 0; r < Q; r++) for (let k = 0; k < Q; k++) V[r * Q + k] = pts[w.worst[r]] ** k
      got.set(`${P},${Q}`, w.value)
      rows.push(`P=${String(P).padStart(2)} Q=${String(Q).padStart(2)}  cheb=${w.value.toExponential(2)}  monomial(same subset)=${conditionNumber(V, Q, Q).toExponential(2)}  ${w.exhaustive ? 'all' : 'sampled'} ${w.subsets} subsets, worst ${w.worst[0]}..${w.worst[w.worst.length - 1]}`)
    }
    console.log(rows.join('\n'))
    // docs/design.md §Conditioning quotes 9.1e2 and 5.0e5 for the Chebyshev basis.
    expect(got.get('15,13')).toBeGreaterThan(8.5e2)
    expect(got.get('15,13')).toBeLessThan(9.5e2)
    expect(got.get('30,27')).toBeGreaterThan(4.7e5)
    expect(got.get('30,27')).toBeLessThan(5.2e5)
  })
})
