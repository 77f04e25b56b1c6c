import { describe, it, expect } from 'vitest'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeReport, svgPlot } from './report.ts'
import type { MonitorView } from './snapshot.ts'

const view: MonitorView = {
  t: 5000, step: 40, totalSteps: 40, loss: 0.2, trainAccuracy: 0.9, testAccuracy: 0.88,
  totals: { injected: 2, detected: 2, corrected: 2, uncorrectable: 0, rollbacks: 1, repairs: 1, restarts: 0 },
  series: Array.from({ length: 40 }, (_, i) => ({ t: i * 100, step: i, loss: 2 / (1 + i), trainAccuracy: i / 40 })),
  accuracy: [{ t: 2000, step: 20, testAccuracy: 0.7 }, { t: 4000, step: 40, testAccuracy: 0.88 }],
  events: [
    { t: 1000, step: 10, type: 'injected', peer: 1, count: 1, detail: 'byzantine → peer 1' },
    { t: 1500, step: 15, type: 'rollback', peer: null, count: 1, detail: '1 rollbacks' },
    { t: 1600, step: 16, type: 'repair', peer: null, count: 1, detail: '1 shards repaired' }
  ]
}

describe('report', () => {
  it('writes the summary, history, timeline and SVG plots with faults marked', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'codenet-report-')), 'r')
    writeReport(dir, { summary: null, view, history: [{ at: 1, sinceStartMs: 1, step: 10, target: 1, kind: 'byzantine', params: { magnitude: 1 }, seed: 3, delivered: [1], errors: {} }] })
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'accuracy.svg', 'history.jsonl', 'loss.svg', 'timeline.json'])
    const loss = readFileSync(join(dir, 'loss.svg'), 'utf8')
    expect(loss).toMatch(/^<svg/)
    expect(loss).toContain('class="mark injected"')
    expect(loss).toContain('class="mark rollback"')
    expect(loss).toContain('class="mark repair"')
    expect(loss).toContain('<polyline')
    expect((readFileSync(join(dir, 'accuracy.svg'), 'utf8').match(/<circle/g) ?? []).length).toBe(2)
    expect(JSON.parse(readFileSync(join(dir, 'history.jsonl'), 'utf8'))).toMatchObject({ kind: 'byzantine', seed: 3 })
  })
  it('escapes text and survives empty data', () => {
    const svg = svgPlot({ title: 'a<b', yLabel: 'y', lines: [{ name: 'n', color: '#000', points: [] }], events: [], maxStep: 0 })
    expect(svg).toContain('a&lt;b')
    expect(svg).not.toContain('NaN')
  })
})
