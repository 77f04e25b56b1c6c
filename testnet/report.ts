/**
 * `codenet testnet --report DIR`: the run on disk.
 *
 *   summary.json    the testnet summary (docs/design.md §Summary JSON fields + per-peer detail)
 *   history.jsonl   every fault injected (as in the state folder; replayable with --replay)
 *   timeline.json   the monitor's timeline events (injected, detected, corrected, rollbacks, repairs, crashes)
 *   loss.svg        training loss over steps; accuracy.svg train accuracy (line) and test
 *                   accuracy (dots); both with injected faults, rollbacks and repairs marked
 *   README.md       the summary as a table, linking the plots
 *
 * The SVGs are written by hand (no plotting library): a few polylines and markers.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HistoryEntry } from './fault-history.ts'
import type { MonitorView, PeerRow, TestnetSummary, TimelineEvent } from './snapshot.ts'

export interface ReportInput {
  summary: TestnetSummary | null
  view: MonitorView
  history: readonly HistoryEntry[]
  rows?: readonly PeerRow[]
}

const MARKS: Partial<Record<TimelineEvent['type'], string>> = { injected: '#d73a49', crash: '#d73a49', rollback: '#e36209', repair: '#0366d6' }
const esc = (s: string): string => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)

export interface PlotLine { name: string, color: string, points: Array<[number, number | null]>, dots?: boolean }

/** A line plot over steps with vertical event markers. */
export function svgPlot (opts: { title: string, yLabel: string, lines: PlotLine[], events: readonly TimelineEvent[], maxStep: number, yMin?: number, yMax?: number }): string {
  const W = 720; const H = 320; const L = 56; const R = 16; const T = 36; const B = 44
  const ys = opts.lines.flatMap(l => l.points.map(p => p[1])).filter((v): v is number => v !== null && Number.isFinite(v))
  const yMin = opts.yMin ?? (ys.length > 0 ? Math.min(0, ...ys) : 0)
  let yMax = opts.yMax ?? (ys.length > 0 ? Math.max(...ys) * 1.05 : 1)
  if (!(yMax > yMin)) yMax = yMin + 1
  const maxStep = Math.max(1, opts.maxStep)
  const x = (s: number): number => L + (W - L - R) * Math.min(1, Math.max(0, s / maxStep))
  const y = (v: number): number => H - B - (H - B - T) * ((Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin))
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(opts.title)}</text>`
  ]
  for (let i = 0; i <= 5; i++) {
    const v = yMin + (yMax - yMin) * i / 5
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e1e4e8"/>`, `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(yMax - yMin < 2 ? 2 : 1)}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const s = Math.round(maxStep * i / 5)
    out.push(`<text x="${x(s).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${s}</text>`)
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">step</text>`, `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(opts.yLabel)}</text>`)
  for (const e of opts.events) {
    const c = MARKS[e.type]
    if (c === undefined || e.step === null) continue
    out.push(`<line class="mark ${e.type}" x1="${x(e.step).toFixed(1)}" x2="${x(e.step).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="${c}" stroke-dasharray="4 3" opacity="0.7"><title>${esc(`${e.type} at step ${e.step}: ${e.detail}`)}</title></line>`)
  }
  for (const l of opts.lines) {
    const pts = l.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]))
    if (l.dots === true) for (const [s, v] of pts) out.push(`<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${l.color}"/>`)
    else if (pts.length > 1) out.push(`<polyline fill="none" stroke="${l.color}" stroke-width="1.8" points="${pts.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`)
  }
  // Legend.
  const legend: Array<[string, string]> = [...opts.lines.map(l => [l.name, l.color] as [string, string]), ['fault injected', MARKS.injected as string], ['rollback', MARKS.rollback as string], ['repair', MARKS.repair as string]]
  legend.forEach(([name, color], i) => {
    const lx = L + 8 + i * 120
    out.push(`<rect x="${lx}" y="${T - 10}" width="10" height="10" fill="${color}"/>`, `<text x="${lx + 14}" y="${T - 1}">${esc(name)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Write the report; returns the files written. */
export function writeReport (dir: string, input: ReportInput): string[] {
  mkdirSync(dir, { recursive: true })
  const v = input.view
  const maxStep = v.totalSteps ?? Math.max(1, ...v.series.map(p => p.step))
  const files: Array<[string, string]> = []
  if (input.summary !== null) files.push(['summary.json', `${JSON.stringify(input.summary, null, 2)}\n`])
  files.push(['history.jsonl', input.history.map(e => JSON.stringify(e)).join('\n') + (input.history.length > 0 ? '\n' : '')])
  files.push(['timeline.json', `${JSON.stringify(v.events, null, 2)}\n`])
  files.push(['loss.svg', svgPlot({ title: 'Training loss', yLabel: 'loss', maxStep, events: v.events, yMin: 0, lines: [{ name: 'train loss', color: '#0366d6', points: v.series.map(p => [p.step, p.loss]) }] })])
  files.push(['accuracy.svg', svgPlot({
    title: 'Accuracy',
    yLabel: 'accuracy',
    maxStep,
    events: v.events,
    yMin: 0,
    yMax: 1,
    lines: [
      { name: 'train (batches)', color: '#28a745', points: v.series.map(p => [p.step, p.trainAccuracy]) },
      { name: 'test', color: '#6f42c1', points: v.accuracy.map(a => [a.step, a.testAccuracy]), dots: true }
    ]
  })])
  const s = input.summary
  const md = [
    '# codenet testnet report',
    '',
    ...(s !== null
      ? [
          '| | |', '|---|---|',
          `| strategy | ${s.strategy}, ${s.peers} peers, ${s.code.scheme} m=${s.code.m} n=${s.code.n} |`,
          `| steps | ${s.steps} (${s.epochs.toFixed(2)} epochs) |`,
          `| wall time | ${s.wallSeconds.toFixed(1)} s |`,
          `| test accuracy | ${(100 * s.testAccuracy).toFixed(2)} % |`,
          `| faults | injected ${s.faults.injected}, detected ${s.faults.detected}, corrected ${s.faults.corrected}, uncorrectable ${s.faults.uncorrectable} |`,
          `| recovery | rollbacks ${s.rollbacks}, repairs ${s.repairs}, restarts ${s.restarts} |`,
          ''
        ]
      : ['The run did not finish: no summary.', '']),
    `${input.history.length} fault commands (history.jsonl), ${v.events.length} timeline events (timeline.json).`,
    '',
    '![loss](loss.svg)',
    '',
    '![accuracy](accuracy.svg)',
    ''
  ].join('\n')
  files.push(['README.md', md])
  for (const [name, text] of files) writeFileSync(join(dir, name), text)
  return files.map(([n]) => join(dir, n))
}
