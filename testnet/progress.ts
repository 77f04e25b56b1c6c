/**
 * Training progress on a terminal: one redrawn bar line (step, loss, fault counters) when
 * the stream is a TTY, plain lines every few percent otherwise (logs, CI, pipes).
 * Shared by `simulate` and the libp2p testnet.
 */

export interface ProgressSnapshot {
  step: number
  totalSteps: number
  loss: number
  faults?: { injected: number, detected: number, corrected: number, uncorrectable: number, silent: number }
  rollbacks?: number
  repairs?: number
  /** Free text appended to the line (e.g. peers up). */
  note?: string
}

export interface ProgressReporter {
  update (s: ProgressSnapshot): void
  /** Final line; the bar is left on screen. */
  done (s?: ProgressSnapshot): void
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
  label?: string
  /** Force TTY or plain mode (default: the stream's isTTY). */
  tty?: boolean
  /** Plain mode: a line every this fraction of the run (default 0.05). */
  plainEvery?: number
  /** TTY mode: redraw at most this often, ms (default 100). */
  redrawMs?: number
  now?: () => number
}

const fmtS = (s: number): string => !Number.isFinite(s) ? '?' : s < 60 ? `${s.toFixed(0)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60).toString().padStart(2, '0')}s`

export function formatProgress (s: ProgressSnapshot, elapsedS: number): string {
  const pct = s.totalSteps > 0 ? (100 * s.step) / s.totalSteps : 0
  const eta = s.step > 0 ? elapsedS * (s.totalSteps - s.step) / s.step : Infinity
  const parts = [`step ${s.step}/${s.totalSteps}`, `${pct.toFixed(0)}%`, `loss ${Number.isFinite(s.loss) ? s.loss.toFixed(4) : String(s.loss)}`]
  if (s.faults !== undefined) {
    const f = s.faults
    parts.push(`faults inj ${f.injected} det ${f.detected} cor ${f.corrected} unc ${f.uncorrectable} silent ${f.silent}`)
  }
  if (s.rollbacks !== undefined) parts.push(`rollbacks ${s.rollbacks}`)
  if (s.repairs !== undefined) parts.push(`repairs ${s.repairs}`)
  parts.push(`elapsed ${fmtS(elapsedS)}`, `eta ${fmtS(eta)}`)
  if (s.note !== undefined) parts.push(s.note)
  return parts.join('  ')
}

export function createProgressReporter (opts: ProgressOptions): ProgressReporter {
  const tty = opts.tty ?? opts.stream.isTTY === true
  const now = opts.now ?? (() => performance.now())
  const t0 = now()
  const every = opts.plainEvery ?? 0.05
  const redraw = opts.redrawMs ?? 100
  const label = opts.label === undefined ? '' : `${opts.label} `
  let lastDraw = -Infinity
  let lastPlainBucket = -1
  let last: ProgressSnapshot | undefined
  const elapsed = (): number => (now() - t0) / 1000

  const bar = (s: ProgressSnapshot): string => {
    const width = 24
    const filled = s.totalSteps > 0 ? Math.round(width * Math.min(1, s.step / s.totalSteps)) : 0
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
  }
  const draw = (s: ProgressSnapshot): void => {
    let line = `${label}${bar(s)} ${formatProgress(s, elapsed())}`
    const cols = opts.stream.columns
    if (cols !== undefined && cols > 10 && line.length > cols - 1) line = line.slice(0, cols - 1)
    opts.stream.write(`\r\u001b[2K${line}`)
  }

  return {
    update (s) {
      last = s
      if (tty) {
        const t = now()
        if (t - lastDraw >= redraw) { lastDraw = t; draw(s) }
        return
      }
      const bucket = s.totalSteps > 0 ? Math.floor(s.step / Math.max(1, Math.round(every * s.totalSteps))) : s.step
      if (bucket !== lastPlainBucket) {
        lastPlainBucket = bucket
        opts.stream.write(`${label}${formatProgress(s, elapsed())}\n`)
      }
    },
    done (s) {
      const fin = s ?? last
      if (fin === undefined) return
      if (tty) { draw(fin); opts.stream.write('\n') } else opts.stream.write(`${label}${formatProgress(fin, elapsed())}\n`)
    }
  }
}
