import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CODES_BENCH_OPERATIONS, runCodesBench } from './codes.ts'

describe('codenet bench codes (quick)', () => {
  it('produces a table and JSON with every operation as a ratio to the GEMM', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => { text += c.toString() })
    const json = join(mkdtempSync(join(tmpdir(), 'codes-bench-')), 'codes.json')
    const r = await runCodesBench({ quick: true, out, json })
    expect(r.benchmark).toBe('codes')
    expect(r.rows.length).toBeGreaterThan(0)
    for (const row of r.rows) {
      expect(row.gemmMs).toBeGreaterThan(0)
      for (const k of CODES_BENCH_OPERATIONS) {
        expect(Number.isFinite(row.ratio[k])).toBe(true)
        expect(row.ratio[k]).toBeGreaterThan(0)
      }
    }
    expect(JSON.parse(readFileSync(json, 'utf8')).rows.length).toBe(r.rows.length)
    expect(text).toMatch(/decode0/)
  })
})
