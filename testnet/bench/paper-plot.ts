/**
 * The plot of `bench paper`: test accuracy against wall time, one line per (strategy, ε) of
 * one error kind — the launcher's scored checkpoints, then the final accuracy at the end of
 * the run — and under the axis one strip per run with errors: its injected soft errors as
 * short pale ticks, the faults the network detected as mid ticks, its rollbacks as full ticks,
 * in the line's colour (at the poll that saw them, ~1 s). Runs that failed say so in the
 * legend. Plain SVG, no dependencies.
 */
import { fmtRate, type PaperBenchResult, type PaperRun } from './paper.ts'
import type { ErrorKind } from '../../training/soft-errors.ts'

const COLORS: Record<string, string> = { codenet: '#0366d6', replication: '#d73a49', uncoded: '#6f42c1' }
const DASHES = ['', '7 3', '2 3', '10 3 2 3', '1 2']

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The (t s, accuracy) points of a run: scored checkpoints, then the final accuracy. */
export function accuracyPoints (r: PaperRun): Array<[number, number]> {
  const t = r.testnet
  const pts: Array<[number, number]> = (t.trace?.accuracy ?? []).map(a => [a.t / 1000, a.testAccuracy])
  pts.sort((a, b) => a[0] - b[0])
  if (t.ok && t.testAccuracy !== null) pts.push([t.wallSeconds, t.testAccuracy])
  return pts
}

export function paperSvg (res: PaperBenchResult, kind: ErrorKind): string {
  const runs = res.runs.filter(r => r.kind === kind)
  const rates = [...new Set(runs.map(r => r.rate))].sort((a, b) => a - b)
  const marked = runs.filter(r => (r.testnet.trace?.rollbacks.length ?? 0) > 0 || (r.testnet.trace?.faults?.injected.length ?? 0) > 0)
  const STRIP = 11
  const W = 1000; const L = 60; const R = 310; const T = 40; const B = 64 + STRIP * marked.length + 12; const H = 440 + B
  const tMax = Math.max(10, ...runs.map(r => r.testnet.wallSeconds))
  const accs = runs.flatMap(r => accuracyPoints(r).map(p => p[1]))
  const yLo = Math.max(0, Math.floor(10 * Math.min(0.8, ...accs)) / 10); const yHi = 1
  const X = (t: number): number => L + (W - L - R) * t / tMax
  const Y = (a: number): number => H - B - (H - B - T) * (Math.max(a, yLo) - yLo) / (yHi - yLo)
  const o: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${(L + W - R) / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${esc(`Test accuracy against wall time: ${kind} soft errors, ${res.peers} peers on one machine`)}</text>`
  ]
  for (let a = yLo; a <= yHi + 1e-9; a += (yHi - yLo) / 5) {
    o.push(`<line x1="${L}" x2="${W - R}" y1="${Y(a).toFixed(1)}" y2="${Y(a).toFixed(1)}" stroke="#e1e4e8"/>`, `<text x="${L - 6}" y="${(Y(a) + 4).toFixed(1)}" text-anchor="end">${(100 * a).toFixed(0)} %</text>`)
  }
  const tick = Math.max(1, 10 ** Math.floor(Math.log10(tMax / 2)) * (tMax / 10 ** Math.floor(Math.log10(tMax)) > 5 ? 2 : 1))
  for (let t = 0; t <= tMax; t += tick) o.push(`<text x="${X(t).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`)
  o.push(`<text x="${(L + W - R) / 2}" y="${H - B + 34}" text-anchor="middle">wall seconds${marked.length > 0 ? ' (strips below, per run: pale = soft errors injected, mid = detected, full = rollback)' : ''}</text>`)
  o.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#586069"/>`)
  const clean = res.cleanAccuracy.codenet
  if (clean !== undefined) o.push(`<line x1="${L}" x2="${W - R}" y1="${Y(clean).toFixed(1)}" y2="${Y(clean).toFixed(1)}" stroke="#28a745" stroke-dasharray="4 4"/>`, `<text x="${W - R - 4}" y="${(Y(clean) - 4).toFixed(1)}" text-anchor="end" fill="#28a745">clean ${(100 * clean).toFixed(2)} %</text>`)
  let legend = 0
  const strategies = [...new Set(runs.map(r => r.strategy))]
  strategies.forEach(s => {
    for (const r of runs.filter(q => q.strategy === s)) {
      const color = COLORS[s] ?? '#24292e'
      const dash = DASHES[rates.indexOf(r.rate) % DASHES.length]
      const pts = accuracyPoints(r)
      if (pts.length > 0) o.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash !== '' ? ` stroke-dasharray="${dash}"` : ''} points="${[[0, pts[0][1]] as [number, number], ...pts].slice(1).map(([t, a]) => `${X(t).toFixed(1)},${Y(a).toFixed(1)}`).join(' ')}"/>`)
      for (const p of pts) o.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.2" fill="${color}"/>`)
      const strip = marked.indexOf(r)
      if (strip >= 0) {
        const y0 = H - B + 46 + STRIP * strip
        const ticks = (xs: ReadonlyArray<{ t: number }>, y1: number, y2: number, extra: string): void => {
          for (const e of xs) o.push(`<line x1="${X(e.t / 1000).toFixed(1)}" x2="${X(e.t / 1000).toFixed(1)}" y1="${y1}" y2="${y2}" stroke="${color}"${extra}/>`)
        }
        const tr = r.testnet.trace
        ticks(tr?.faults?.injected ?? [], y0 + 6, y0 + 9, ' stroke-opacity="0.35"')
        ticks(tr?.faults?.detected ?? [], y0 + 3, y0 + 9, ' stroke-opacity="0.6"')
        ticks(tr?.rollbacks ?? [], y0, y0 + 9, '')
        o.push(`<text x="${W - R + 12}" y="${y0 + 8}" fill="${color}">${esc(`${s} ε=${fmtRate(r.rate)}`)}</text>`)
      }
      const ly = T + 14 * legend++
      const label = `${s} ε=${fmtRate(r.rate)}: ${r.testnet.ok ? `${r.testnet.wallSeconds.toFixed(0)} s, ${r.testnet.rollbacks ?? 0} rollbacks` : r.testnet.noProgress != null ? `stuck at step ${r.testnet.noProgress.step}` : 'failed'}`
      o.push(`<line x1="${W - R + 12}" x2="${W - R + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash !== '' ? ` stroke-dasharray="${dash}"` : ''}/>`, `<text x="${W - R + 40}" y="${ly + 4}">${esc(label)}</text>`)
    }
  })
  o.push('</svg>')
  return `${o.join('\n')}\n`
}
