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
        expect(row.numpyClean).toBeGreaterThan(0)
        expect(row.ratioWasmNumpy).toBeCloseTo((row.wasm as number) / (row.numpy as number), 10)
        expect(row.ratioWasmNumpyClean).toBeCloseTo((row.wasm as number) / (row.numpyClean as number), 10)
      } else {
        expect(row.numpy).toBeNull()
        expect(row.numpyClean).toBeNull()
      }
    }
    // The pinning variables as this environment has them; without any, numpy clean is numpy.
    const pinned = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].filter(v => process.env[v] !== undefined)
    expect(json.numpy.env).toEqual({ OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null, OPENBLAS_L2_SIZE: process.env.OPENBLAS_L2_SIZE ?? null })
    expect(json.numpyClean.unset).toEqual(['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'])
    expect(json.numpyClean.sameAsNumpy).toBe(pinned.length === 0)
    if (json.numpyClean.sameAsNumpy) for (const row of json.rows) expect(row.numpyClean).toBe(row.numpy)
    if (json.numpy.available) {
      expect(json.numpy.kernel).toMatch(/\S/)
      expect(json.medianRatioClean).toBeGreaterThan(0)
      expect(json.passClean).toBe((json.medianRatioClean as number) >= 0.3)
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

  it('measures numpy a second time without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when the environment pins them', async () => {
    // Only the numpy processes of the benchmark see this environment; this process's is untouched.
    const env = { ...process.env, OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '262144' }
    const out = new PassThrough()
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const result = await runGemmBench({ quick: true, out, repeats: 1, env })
    expect(result.numpy.env).toEqual({ OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '262144' })
    expect(result.numpyClean.sameAsNumpy).toBe(false)
    if (!result.numpy.available) return
    expect(result.numpyClean.available).toBe(true)
    expect(result.numpy.kernel).toMatch(/\S/)
    expect(result.numpyClean.kernel).toMatch(/\S/)
    for (const row of result.rows) {
      expect(row.numpy).toBeGreaterThan(0)
      expect(row.numpyClean).toBeGreaterThan(0)
      expect(row.numpyClean).not.toBe(row.numpy)
    }
    expect(text).toMatch(/OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=262144 → OpenBLAS kernel \S+; numpy clean \(both unset for its process only\) → \S+/)
    expect(text).toMatch(/median wasm\/numpy-clean over the target shapes: \d\.\d{3}/)
  })

  it('rejects a non-positive repeat count', async () => {
    await expect(runGemmBench({ quick: true, out: new PassThrough(), repeats: 0 })).rejects.toThrow(RangeError)
  })

  it('median of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })
})
