import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../testing.ts'
import { CODES_BENCH_OPERATIONS, CODES_TARGET_BATCH, CODES_TARGETS, runCodesBench } from './codes.ts'

describe('codenet bench codes (quick)', () => {
  it('produces a table and JSON with every operation as a ratio to the GEMM, and the targets table', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => { text += c.toString() })
    const json = join(mkdtempSync(join(tmpdir(), 'codes-bench-')), 'codes.json')
    const r = await runCodesBench({ quick: true, out, json })
    expect(r.benchmark).toBe('codes')
    expect(r.timer).toBe('cpu')
    expect(r.rows.length).toBeGreaterThan(0)
    for (const row of r.rows) {
      expect(row.gemmMs).toBeGreaterThan(0)
      for (const k of CODES_BENCH_OPERATIONS) {
        expect(Number.isFinite(row.ratio[k])).toBe(true)
        expect(row.ratio[k]).toBeGreaterThan(0)
      }
    }
    // The targets: a layer at least 512 wide, the fractions of the step and the repair ratio
    // consistent with the times they are computed from, and a verdict for each target.
    expect(r.targets.length).toBeGreaterThan(0)
    const t = r.targets[0]
    expect(Math.min(t.nIn, t.nOut)).toBeGreaterThanOrEqual(CODES_TARGETS.minWidth)
    expect(t.gemmMs.step).toBeCloseTo(t.gemmMs.forward + t.gemmMs.backward + t.gemmMs.update, 10)
    expect(t.codingMs.clean).toBeCloseTo(t.codingMs.encode + t.codingMs.decodeForward + t.codingMs.decodeBackward, 10)
    expect(t.overhead.clean).toBeCloseTo(t.codingMs.clean / (t.gemmMs.step + t.codingMs.clean), 10)
    expect(t.overhead.maxErrors).toBeCloseTo(t.codingMs.maxErrors / (t.gemmMs.step + t.codingMs.maxErrors), 10)
    expect(t.repairOverGemm).toBeCloseTo(t.repairMs / t.gemmMs.forward, 10)
    expect(t.maxErrors.forward + t.maxErrors.backward).toBeGreaterThan(0)
    expect(t.met.clean).toBe(t.overhead.clean <= CODES_TARGETS.clean)
    expect(t.met.maxErrors).toBe(t.overhead.maxErrors <= CODES_TARGETS.maxErrors)
    expect(t.met.repair).toBe(t.repairOverGemm <= CODES_TARGETS.repairOverGemm)
    const saved = JSON.parse(readFileSync(json, 'utf8'))
    expect(saved.rows.length).toBe(r.rows.length)
    expect(saved.targets.length).toBe(r.targets.length)
    expect(text).toMatch(/decode0/)
    expect(text).toMatch(/512->512/)
    expect(t.batch).toBe(CODES_TARGET_BATCH)
  })

  it('measures the targets at the batch asked for', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => { text += c.toString() })
    const r = await runCodesBench({ quick: true, out, batch: 8 })
    expect(r.targets.every(t => t.batch === 8)).toBe(true)
    expect(text).toMatch(/B = 8\)/)
  })

  it('takes --batch on the command line, and refuses a bad one in one line', async () => {
    const ok = await runCli(['bench', 'codes', '--quick', '--batch', '8'])
    expect(ok.code).toBe(0)
    expect(ok.out).toMatch(/targets \(P = 6, m,n = 2,1, B = 8\)/)
    for (const v of ['0', '5000', 'x', '8.5']) {
      const r = await runCli(['bench', 'codes', '--quick', '--batch', v])
      expect(r.code).toBe(2)
      expect(r.err.split('\n')[0]).toMatch(/--batch must be an integer in 1\.\.4096/)
      expect(r.err).not.toMatch(/\n\s+at /)
    }
    // --batch of the other benches that do not take it is still refused.
    const gemm = await runCli(['bench', 'exchange', '--batch', '8'])
    expect(gemm.code).toBe(2)
    expect(gemm.err.split('\n')[0]).toMatch(/--batch applies to `bench step\|scaling` only/)
  }, 60_000)
})
