/**
 * Start-of-run soft errors are armed by each peer's own flags (testnet/launch.ts): which history
 * entries qualify, the flags they become, and that the entry recorded for them reads back.
 */
import { describe, expect, it } from 'vitest'
import { appendFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { armedAtStart, armFlags } from './start-faults.ts'
import { readHistory, type HistoryEntry } from './fault-history.ts'

const entry = (over: Partial<HistoryEntry> = {}): HistoryEntry => ({
  at: 0, sinceStartMs: 0, step: 0, target: 'all', kind: 'soft-error', seed: 1, delivered: [], errors: {},
  params: { rate: 0.002, errorKind: 'gaussian', magnitude: 1, site: 'matmul' }, ...over
})

describe('soft errors armed at the start of every peer', () => {
  it('only soft errors for all peers from the start (not lies, not later commands, not one peer)', () => {
    expect(armedAtStart(entry())).toBe(true)
    expect(armedAtStart(entry({ target: 2 }))).toBe(false)
    expect(armedAtStart(entry({ sinceStartMs: 5000, step: null }))).toBe(false)
    expect(armedAtStart(entry({ kind: 'byzantine', params: { magnitude: 1 } }))).toBe(false)
    expect(armedAtStart(entry({ params: { rate: 1, errorKind: 'gaussian', magnitude: 1, site: 'verdict' } }))).toBe(false)
  })

  it('become the peer flags of the same rate, kind, magnitude and site', () => {
    expect(armFlags(entry())).toEqual(['--fault-rate', '0.002', '--fault-kind', 'gaussian', '--fault-magnitude', '1', '--fault-site', 'matmul'])
    expect(armFlags(entry({ params: { rate: 0.01, errorKind: 'bitflip', magnitude: 1, site: 'any' } })).filter(f => f === '--fault-site').length).toBeGreaterThan(5)
  })

  it('the entry the launcher records for them is a valid history line, armed again on a replay', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'codenet-arm-')), 'history.jsonl')
    appendFileSync(file, `${JSON.stringify({ ...entry(), at: Date.now(), delivered: [0, 1, 2], errors: {} })}\n`)
    const [back] = readHistory(file)
    expect(back.delivered).toEqual([0, 1, 2])
    expect(armedAtStart(back)).toBe(true)
  })
})
