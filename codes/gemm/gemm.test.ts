import { spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Matrix, matrix, relativeError, ShapeError } from '../matrix.ts'
import { availableGemmKernels, gemm, gemmKernelName, gemmShape, gemmWith, type GemmKernelKind, WasmGemm } from './index.ts'
import { gemmReference } from './reference.ts'

const random = (rows: number, cols: number, seed: number): Matrix => {
  let s = seed >>> 0 || 1
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    data[i] = s / 2 ** 32 - 0.5
  }
  return matrix(rows, cols, data)
}

const copy = (x: Matrix): Matrix => ({ rows: x.rows, cols: x.cols, data: x.data.slice() })

const FAST: GemmKernelKind[] = availableGemmKernels().filter(k => k !== 'reference')

/** Run a kernel and the naive reference on the same inputs, return the relative error. */
function compare (kernel: GemmKernelKind, m: number, k: number, n: number, o: { transA: boolean, transB: boolean, alpha: number, beta: number, withC: boolean }, seed: number): number {
  const a = o.transA ? random(k, m, seed) : random(m, k, seed)
  const b = o.transB ? random(n, k, seed + 1) : random(k, n, seed + 1)
  const c0 = random(m, n, seed + 2)
  const opts = { transA: o.transA, transB: o.transB, alpha: o.alpha, beta: o.beta }
  const want = matrix(m, n)
  if (o.withC) want.data.set(c0.data)
  gemmReference(a, b, want, { ...opts, beta: o.withC ? o.beta : 0 })
  const got = o.withC ? gemmWith(kernel, a, b, copy(c0), opts) : gemmWith(kernel, a, b, undefined, opts)
  expect(got.rows).toBe(m)
  expect(got.cols).toBe(n)
  if (m * n === 0) return 0
  return relativeError(got, want)
}

describe('gemm kernels against the naive reference', () => {
  it('has a WASM kernel on this engine (Node 24 has SIMD)', () => {
    expect(FAST).toContain('wasm')
    expect(gemmKernelName()).toMatch(/^(wasm-simd|js-tiled|js-reference)/)
  })

  const shapes: Array<[number, number, number]> = [
    [1, 1, 1], [7, 13, 5], [6, 4, 4], [5, 3, 3], [13, 257, 9], [61, 37, 23], [130, 300, 70], [2, 600, 1], [1, 5, 300],
    [127, 129, 131]
  ]
  for (const kernel of FAST) {
    for (const [m, k, n] of shapes) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          it(`${kernel} ${m}x${k}·${k}x${n} transA=${transA} transB=${transB}`, () => {
            expect(compare(kernel, m, k, n, { transA, transB, alpha: 1, beta: 0, withC: false }, m * 1000 + n)).toBeLessThan(1e-13)
            expect(compare(kernel, m, k, n, { transA, transB, alpha: -0.75, beta: 1.5, withC: true }, m + k + n)).toBeLessThan(1e-13)
          })
        }
      }
    }

    it(`${kernel}: beta = 1 accumulates, beta = 0 ignores NaN in C`, () => {
      expect(compare(kernel, 19, 11, 7, { transA: false, transB: false, alpha: 2, beta: 1, withC: true }, 5)).toBeLessThan(1e-13)
      const a = random(9, 8, 1); const b = random(8, 7, 2)
      const c = matrix(9, 7, new Float64Array(63).fill(NaN))
      gemmWith(kernel, a, b, c, { beta: 0 })
      expect(relativeError(c, gemmWith('reference', a, b))).toBeLessThan(1e-13)
    })

    it(`${kernel}: k = 0 gives beta·C, empty shapes are fine`, () => {
      const c = random(4, 3, 9)
      const want = c.data.map(x => 0.5 * x)
      gemmWith(kernel, matrix(4, 0), matrix(0, 3), c, { beta: 0.5 })
      expect(Array.from(c.data)).toEqual(Array.from(want))
      expect(gemmWith(kernel, matrix(0, 5), matrix(5, 3)).data.length).toBe(0)
      expect(gemmWith(kernel, matrix(3, 5), matrix(5, 0)).data.length).toBe(0)
    })

    it(`${kernel}: output aliasing an input gives the same result as separate arrays`, () => {
      const a = random(12, 12, 3); const b = random(12, 12, 4)
      const want = gemmWith('reference', a, b, copy(a), { beta: 1 })
      const got = gemmWith(kernel, a, b, a, { beta: 1 })
      expect(relativeError(got, want)).toBeLessThan(1e-13)
    })

    it(`${kernel}: random shapes, transposes, alpha and beta (property)`, () => {
      fc.assert(fc.property(
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 40 }),
                // Quarter steps: alpha is applied before the sum here and after it in the reference,
        // which only agree to rounding for normal (not subnormal) scale factors.
        fc.boolean(), fc.boolean(), fc.integer({ min: -12, max: 12 }).map(x => x / 4), fc.integer({ min: -12, max: 12 }).map(x => x / 4),
        fc.integer({ min: 1, max: 1 << 30 }),
        (m, k, n, transA, transB, alpha, beta, seed) => {
          expect(compare(kernel, m, k, n, { transA, transB, alpha, beta, withC: true }, seed)).toBeLessThan(1e-12)
        }), { numRuns: 150 })
    })
  }

  it('the WASM kernel handles a product larger than one cache block in every dimension', () => {
    // Crosses KC (256), MC and the 6×4 tile edges, and forces the memory to grow.
    expect(compare('wasm', 251, 600, 130, { transA: true, transB: false, alpha: 1, beta: 0.5, withC: true }, 77)).toBeLessThan(1e-13)
    expect(compare('wasm', 300, 515, 67, { transA: false, transB: true, alpha: 1, beta: 0, withC: false }, 78)).toBeLessThan(1e-13)
  })

  it('the WASM kernel splits C into column blocks when n exceeds NC (512)', () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      expect(compare('wasm', 13, 50, 530, { transA, transB, alpha: 1, beta: 0, withC: false }, 79)).toBeLessThan(1e-13)
      expect(compare('wasm', 7, 300, 1100, { transA, transB, alpha: 0.5, beta: -1, withC: true }, 80)).toBeLessThan(1e-13)
    }
  })

  it('both WASM variants (relaxed FMA and mul+add) agree with the reference', () => {
    const a = random(37, 45, 5); const b = random(45, 29, 6)
    const want = gemmWith('reference', a, b)
    for (const variant of ['relaxed', 'simd'] as const) {
      const kernel = new WasmGemm(variant)
      const c = new Float64Array(37 * 29)
      kernel.run(37, 29, 45, { data: a.data, ld: 45, trans: false }, { data: b.data, ld: 29, trans: false }, 1, 0, c)
      expect(relativeError(matrix(37, 29, c), want)).toBeLessThan(1e-13)
    }
  })

  it('gemm dispatches small and large products to a kernel that matches the reference', () => {
    for (const [m, k, n] of [[10, 64, 16], [64, 784, 16], [3, 3, 3]]) {
      const a = random(m, k, 1); const b = random(k, n, 2)
      expect(relativeError(gemm(a, b), gemmWith('reference', a, b))).toBeLessThan(1e-13)
    }
  })
})

describe('gemm shape checks', () => {
  it('rejects mismatched inner dimensions and a wrong output shape', () => {
    expect(() => gemmShape(matrix(2, 3), matrix(4, 2))).toThrow(ShapeError)
    expect(gemmShape(matrix(3, 2), matrix(4, 3), { transA: true, transB: true })).toEqual({ m: 2, k: 3, n: 4 })
    expect(() => gemm(matrix(2, 3), matrix(3, 2), matrix(2, 3))).toThrow(ShapeError)
    for (const kernel of FAST) expect(() => gemmWith(kernel, matrix(2, 3), matrix(2, 3))).toThrow(ShapeError)
  })
})

describe('CODENET_GEMM selects the kernel', () => {
  const probe = (value: string): { status: number | null, stdout: string, stderr: string } => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      `import { gemm, gemmKernelName } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
       const a = { rows: 2, cols: 2, data: new Float64Array([1, 2, 3, 4]) };
       console.log(gemmKernelName(), Array.from(gemm(a, a).data).join(','))`],
    { env: { ...process.env, CODENET_GEMM: value }, encoding: 'utf8' })
    return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr }
  }

  it('js forces the tiled JS kernel, wasm and auto use WASM', () => {
    expect(probe('js').stdout).toBe('js-tiled 7,10,15,22')
    expect(probe('wasm').stdout).toBe('wasm-simd-relaxed-fma 7,10,15,22')
    expect(probe('auto').stdout).toBe('wasm-simd-relaxed-fma 7,10,15,22')
  })

  it('an unknown value is a clear error', () => {
    const r = probe('fortran')
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(/GemmConfigError: CODENET_GEMM=fortran: expected wasm, js, reference or auto/)
  })
})

describe('WASM operand packing paths', () => {
  it('packing from JS (large operands) and in WASM (small ones) give the same products', () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const m = 131; const k = 263; const n = 37
      const a = transA ? random(k, m, 1) : random(m, k, 1)
      const b = transB ? random(n, k, 2) : random(k, n, 2)
      const want = gemmWith('reference', a, b, undefined, { transA, transB, alpha: 0.5 })
      for (const rawCopyMaxEntries of [0, 1 << 30]) {
        const c = new Float64Array(m * n)
        new WasmGemm('relaxed', { rawCopyMaxEntries }).run(m, n, k, { data: a.data, ld: a.cols, trans: transA }, { data: b.data, ld: b.cols, trans: transB }, 0.5, 0, c)
        expect(relativeError(matrix(m, n, c), want)).toBeLessThan(1e-13)
      }
    }
  })
})
