import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { gemm } from './gemm/index.ts'
import { type Matrix, relativeError } from './matrix.ts'
import { mulberry32 } from './random.ts'
import { corrupt, randomMatrix, sample } from './testing.ts'
import { PolynomialCode } from './polynomial.ts'
import { BerrutCode } from './bacc.ts'

describe('polynomial codes for A·B', () => {
  const configs: Array<[number, number, number]> = []
  for (let P = 1; P <= 14; P++) for (let m = 1; m <= P; m++) for (let n = 1; m * n <= P; n++) configs.push([P, m, n])
  it('decode A·B from mn + 1 results (mn determine it, one more checks it); mn are refused; errors are corrected', () => {
    fc.assert(fc.property(fc.constantFrom(...configs.filter(([P, m, n]) => P > m * n)), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer(), ([P, m, n], r, k, seed) => {
      const code = new PolynomialCode(P, m, n)
      const A = randomMatrix(m * r, k, seed); const B = randomMatrix(k, n * 2, seed + 1)
      const ys = Array.from({ length: P }, (_, p) => code.compute(code.encodeA(A, p), code.encodeB(B, p)))
      const rng = mulberry32(seed)
      const Q = m * n
      const subset = sample(P, Q + 1 + Math.floor(rng() * (P - Q)), rng)
      const d = code.decode(new Map(subset.map(p => [p, ys[p]])))
      // Accepted within 1e-9, or refused because one hidden error could move it (leverage): never wrong.
      if (d.ok) expect(relativeError(d.value, gemm(A, B))).toBeLessThan(1e-9)
      else expect(d.reason).toMatch(/^leverage/)
      expect(code.decode(new Map(ys.map((y, p) => [p, y]))).ok).toBe(true)
      const exactlyQ = code.decode(new Map(subset.slice(0, Q).map(p => [p, ys[p]])))
      expect(exactlyQ).toEqual({ ok: false, reason: `too few results to check (${Q} of ${Q + 1})`, suspects: [] })
      if (P - Q >= 2) {
        const map = new Map(ys.map((y, p) => [p, y]))
        const bad = Math.floor(rng() * P)
        map.set(bad, corrupt(ys[bad], 'gaussian', rng, ys[0], 0))
        const e = code.decode(map, { mode: 'adversarial' })
        expect(e.ok && relativeError(e.value, gemm(A, B))).toBeLessThan(1e-9)
        expect(e.ok && e.faulty).toEqual([bad])
      }
    }), { numRuns: 150 })
  })
})

describe('BACC (Berrut approximate coded computing)', () => {
  it('approximates f(X_j) from any subset; measured error documented', () => {
    // f = elementwise square then product with a fixed matrix: non-linear.
    const F = randomMatrix(6, 3, 99)
    const f = (x: Matrix): Matrix => gemm({ ...x, data: x.data.map(v => v * v) }, F)
    const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]
    const rows: string[] = []
    const medians: number[] = []
    for (const [K, P] of [[2, 6], [3, 10], [4, 16], [6, 30]] as const) {
      const code = new BerrutCode(K, P)
      const errAll: number[] = []; const errMissing: number[] = []
      for (let trial = 0; trial < 40; trial++) {
        // Blocks on a smooth curve through random matrices, as BACC assumes.
        const base = randomMatrix(4, 6, trial); const dir = randomMatrix(4, 6, trial + 100)
        const data = Array.from(code.dataPoints, a => ({ ...base, data: base.data.map((v, i) => v + a * dir.data[i]) }))
        const res = new Map(Array.from({ length: P }, (_, p) => [p, f(code.encode(data, p))] as const))
        const truth = data.map(f)
        code.decode(res).forEach((v, j) => errAll.push(relativeError(v, truth[j])))
        const keep = sample(P, Math.ceil(P * 0.7), mulberry32(trial))
        code.decode(new Map(keep.map(p => [p, res.get(p)!]))).forEach((v, j) => errMissing.push(relativeError(v, truth[j])))
      }
      medians.push(med(errAll), med(errMissing))
      rows.push(`K=${K} P=${P}: relative error median/max — all results ${med(errAll).toExponential(2)}/${Math.max(...errAll).toExponential(2)}, 70% of results ${med(errMissing).toExponential(2)}/${Math.max(...errMissing).toExponential(2)}`)
    }
    console.log(rows.join('\n'))
    // Measured medians 8e-3…1.3e-1, worst single blocks up to 3.2 (a gap left by missing
    // results): approximate, as docs/design.md §Conditioning says (≈10 %); never for exact decoding.
    expect(Math.max(...medians)).toBeLessThan(0.3)
    expect(Math.max(...medians)).toBeGreaterThan(1e-4) // it is genuinely approximate
  })
})
