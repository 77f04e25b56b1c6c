/**
 * Progress of reading a csv:/idx: dataset's files, on stderr: a redrawn bar on a terminal, a
 * line a quarter otherwise. Files smaller than `minBytes` (4 MiB) read too fast to need one.
 */
import type { DataProgress } from '../training/data/read.ts'

export const DATA_PROGRESS_MIN_BYTES = 4 << 20

const mb = (n: number): string => (n / 1e6).toFixed(1)

export function dataProgress (stream: NodeJS.WritableStream & { isTTY?: boolean }, opts: { quiet?: boolean, minBytes?: number, now?: () => number } = {}): DataProgress | undefined {
  if (opts.quiet === true) return undefined
  const tty = stream.isTTY === true
  const min = opts.minBytes ?? DATA_PROGRESS_MIN_BYTES
  const now = opts.now ?? (() => performance.now())
  let file = ''
  let bucket = -1
  let lastDraw = -Infinity
  let finished = false
  return (path, done, total) => {
    if (total < min) return
    if (path !== file) { file = path; bucket = -1; lastDraw = -Infinity; finished = false }
    if (finished) return
    const frac = total > 0 ? Math.min(1, done / total) : 1
    const bar = `[${'#'.repeat(Math.round(24 * frac))}${'.'.repeat(24 - Math.round(24 * frac))}]`
    const line = `reading ${path} ${bar} ${Math.floor(100 * frac)}% ${mb(done)}/${mb(total)} MB`
    finished = done >= total
    if (tty) {
      const t = now()
      if (t - lastDraw < 100 && !finished) return
      lastDraw = t
      stream.write(`\r\u001b[2K${line}${finished ? '\n' : ''}`)
      return
    }
    const b = Math.floor(4 * frac)
    if (b !== bucket) { bucket = b; stream.write(`${line}\n`) }
  }
}
