import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { matrix } from '../matrix.ts'
import { gemm } from './index.ts'
import { loadRows, residentMatrix, rowDots, rowPass, rowProduct, rowSumsOfSquares } from './rows.ts'

function rows (R: number, L: number, seed: number): Float64Array[] {
  let s = seed >>> 0 || 1
  return Array.from({ length: R }, () => Float64Array.from({ length: L }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32 - 0.5
  }))
}

function stack (ys: Float64Array[], L: number): Float64Array {
  const out = new Float64Array(ys.length * L)
  ys.forEach((y, i) => out.set(y.subarray(0, L), i * L))
  return out
}

function sequentialSumsOfSquares (data: Float64Array, count: number, L: number): number[] {
  return Array.from({ length: count }, (_, i) => {
    let s = 0
    for (let t = 0; t < L; t++) s += data[i * L + t] ** 2
    return s
  })
}

describe('row kernel (the decoders\' products on long rows)', () => {
  // Small shapes run the JS kernel, large ones WASM; L not a multiple of 8 exercises the padding.
  const shapes: Array<[number, number, number]> = [[1, 2, 1], [2, 6, 16], [2, 6, 48], [3, 5, 3], [1, 6, 12544], [7, 6, 4096], [8, 6, 1001], [9, 13, 1003], [13, 12, 777]]
  for (const [a, R, L] of shapes) {
    it(`${a}x${R} · ${R}x${L}: the product is bit for bit gemm's, the sums of squares are the sums'`, () => {
      const ys = rows(R, L, a * 1000 + R * 10 + L)
      const A = rows(1, a * R, 7 + L)[0]
      const want = gemm(matrix(a, R, A), matrix(R, L, stack(ys, L))).data
      const loaded = loadRows(ys, L)
      const sums = new Float64Array(a); const rowSums = new Float64Array(R)
      const z = rowPass(loaded, A, a, { stored: a, sumsOfSquares: sums, rowSums })
      expect(z.length).toBe(a * L)
      expect(Array.from(z)).toEqual(Array.from(want))
      const wantSums = sequentialSumsOfSquares(want, a, L)
      const wantRows = sequentialSumsOfSquares(stack(ys, L), R, L)
      for (let i = 0; i < a; i++) expect(Math.abs(sums[i] - wantSums[i])).toBeLessThanOrEqual(1e-13 * wantSums[i])
      for (let j = 0; j < R; j++) expect(Math.abs(rowSums[j] - wantRows[j])).toBeLessThanOrEqual(1e-13 * wantRows[j])
      // Storing the first rows only: they are gemm of those rows.
      if (a > 1) {
        const first = rowPass(loaded, A, a, { stored: 1 })
        expect(Array.from(first)).toEqual(Array.from(gemm(matrix(1, R, A.subarray(0, R)), matrix(R, L, stack(ys, L))).data))
      }
    })
  }

  for (const [R, L] of [[6, 8192], [5, 1000], [12, 777], [7, 256], [6, 257], [2, 100]] as const) {
    it(`sketch dots ${R}x${L} · ${L}x4: bit for bit gemm(Y, G) (its depth blocks and FMA chains), resident or not`, () => {
      const ys = rows(R, L, R * 31 + L)
      const G = matrix(L, 4, rows(1, 4 * L, L)[0])
      const want = gemm(matrix(R, L, stack(ys, L)), G).data
      const loaded = loadRows(ys, L)
      for (let pass = 0; pass < 2; pass++) {
        const d = rowDots(loaded, G)
        expect(d).not.toBeNull()
        expect(Array.from(d!)).toEqual(Array.from(want))
        rowSumsOfSquares(loaded, new Float64Array(R)) // now resident: the second pass reads that copy
      }
    })
  }

  it('sketch dots: null where gemm would not run WASM (the caller uses gemm), or G is not L × 4', () => {
    expect(rowDots(loadRows(rows(3, 40, 1), 40), matrix(40, 4))).toBeNull() // 3·4·40 < 512: gemm's JS kernel
    expect(rowDots(loadRows(rows(6, 400, 2), 400), matrix(400, 3))).toBeNull()
  })

  it('several row sets in turn: each product reloads the rows it needs', () => {
    const L = 2048
    const a = rows(4, L, 1); const b = rows(4, L, 2)
    const la = loadRows(a, L); const lb = loadRows(b, L)
    const A = Float64Array.from([1, -2, 0.5, 3, 0, 1, 1, 1])
    const za = rowProduct(la, A, 2); const zb = rowProduct(lb, A, 2); const za2 = rowProduct(la, A, 2)
    expect(Array.from(za2)).toEqual(Array.from(za))
    expect(Array.from(zb)).toEqual(Array.from(gemm(matrix(2, 4, A), matrix(4, L, stack(b, L))).data))
  })

  it('residentMatrix: a view of the resident rows when they are exactly R × L, else null', () => {
    const L = 1024
    const ys = rows(3, L, 5)
    const loaded = loadRows(ys, L)
    expect(residentMatrix(loaded)).toBeNull() // nothing copied yet
    rowSumsOfSquares(loaded, new Float64Array(3))
    expect(Array.from(residentMatrix(loaded)!)).toEqual(Array.from(stack(ys, L)))
    rowSumsOfSquares(loadRows(rows(3, L, 6), L), new Float64Array(3))
    expect(residentMatrix(loaded)).toBeNull() // replaced by other rows
    const odd = loadRows(rows(3, 1001, 7), 1001)
    rowSumsOfSquares(odd, new Float64Array(3))
    expect(residentMatrix(odd)).toBeNull() // padded rows
  })

  it('sums of squares of a row with a NaN or an infinity are not finite (the decoders\' finiteness screen)', () => {
    const L = 4096
    const ys = rows(4, L, 9)
    ys[1][77] = NaN; ys[2][4000] = -Infinity
    const sums = new Float64Array(4)
    rowSumsOfSquares(loadRows(ys, L), sums)
    expect(Number.isFinite(sums[0]) && Number.isFinite(sums[3])).toBe(true)
    expect(Number.isNaN(sums[1])).toBe(true)
    expect(sums[2]).toBe(Infinity)
  })

  it('CODENET_GEMM=js: the JS kernel, bit for bit gemm\'s JS kernel', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      `import { gemm } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
       import { loadRows, rowProduct } from ${JSON.stringify(new URL('./rows.ts', import.meta.url).href)};
       const L = 3001, R = 6, a = 3;
       const ys = Array.from({ length: R }, (_, i) => Float64Array.from({ length: L }, (_, t) => Math.sin(i * 7 + t * 0.37)));
       const A = Float64Array.from({ length: a * R }, (_, k) => Math.cos(k * 1.3));
       const Y = new Float64Array(R * L); ys.forEach((y, i) => Y.set(y, i * L));
       const want = gemm({ rows: a, cols: R, data: A }, { rows: R, cols: L, data: Y }).data;
       const got = rowProduct(loadRows(ys, L), A, a);
       console.log(got.every((v, i) => Object.is(v, want[i])) ? 'identical' : 'different')`],
    { env: { ...process.env, CODENET_GEMM: 'js' }, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('identical')
  })
})
