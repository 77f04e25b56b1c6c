import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { formatGemmTable, type GemmBenchResult, runGemmBench } from './gemm.ts'
import { median } from '../../codes/stats.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-gemm-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('codenet bench gemm --quick', () => {
  it('prints a table and writes the same figures as JSON', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const file = join(dir, 'gemm.json')
    const result = await runGemmBench({ quick: true, json: file, out, repeats: 2 })
    const json = JSON.parse(readFileSync(file, 'utf8')) as GemmBenchResult
    expect(json).toEqual(JSON.parse(JSON.stringify(result)))

    expect(json.benchmark).toBe('gemm')
    expect(json.quick).toBe(true)
    expect(json.repeats).toBe(2)
    expect(json.kernel).toMatch(/^wasm-simd/)
    expect(json.target).toBe(0.3)
    expect(json.rows.length).toBeGreaterThanOrEqual(2)
    for (const row of json.rows) {
      expect(row.shape).toBe(`${row.m}x${row.k}·${row.k}x${row.n}`)
      for (const v of [row.wasm, row.js, row.mlMatrix]) expect(v).toBeGreaterThan(0)
      if (row.target) expect(row.wasm2Threads).toBeGreaterThan(0)
      if (json.numpy.available) {
        expect(row.numpy).toBeGreaterThan(0)
        expect(row.ratioWasmNumpy).toBeCloseTo((row.wasm as number) / (row.numpy as number), 10)
      } else {
        expect(row.numpy).toBeNull()
      }
    }
    if (json.numpy.available) {
      expect(json.medianRatio).toBeGreaterThan(0)
      expect(json.pass).toBe((json.medianRatio as number) >= 0.3)
      expect(text).toMatch(/median wasm\/numpy over the target shapes: \d\.\d{3} \(target ≥ 0\.30\): (PASS|FAIL)/)
    } else {
      expect(json.pass).toBeNull()
      expect(text).toMatch(/numpy skipped/)
    }
    // The table shows the rows of the JSON.
    for (const row of json.rows) expect(text).toContain(row.shape)
    expect(text).toContain(formatGemmTable(json))
  })

  it('rejects a non-positive repeat count', async () => {
    await expect(runGemmBench({ quick: true, out: new PassThrough(), repeats: 0 })).rejects.toThrow(RangeError)
  })

  it('median of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })
})
