import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { dataProgress } from './data-progress.ts'

function capture (tty: boolean): { stream: PassThrough & { isTTY?: boolean }, text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: tty })
  let text = ''
  stream.on('data', (d: Buffer) => { text += d.toString() })
  return { stream, text: () => text }
}

describe('data file progress', () => {
  it('prints a line a quarter off a terminal, once per file, and nothing for small files or --quiet', () => {
    const c = capture(false)
    const p = dataProgress(c.stream, { minBytes: 100 })
    for (const done of [10, 30, 60, 90, 100, 100]) p?.('big.csv', done, 100)
    p?.('small.csv', 10, 10)
    expect(c.text().split('\n').filter(l => l !== '')).toEqual([
      'reading big.csv [##......................] 10% 0.0/0.0 MB',
      'reading big.csv [#######.................] 30% 0.0/0.0 MB',
      'reading big.csv [##############..........] 60% 0.0/0.0 MB',
      'reading big.csv [######################..] 90% 0.0/0.0 MB',
      'reading big.csv [########################] 100% 0.0/0.0 MB'
    ])
    expect(dataProgress(c.stream, { quiet: true })).toBeUndefined()
  })

  it('redraws one bar on a terminal and ends it with a newline', () => {
    const c = capture(true)
    let t = 0
    const p = dataProgress(c.stream, { minBytes: 1, now: () => t })
    p?.('a.idx', 5e6, 1e7); t += 50
    p?.('a.idx', 6e6, 1e7); t += 200 // within 100 ms of the last draw: skipped
    p?.('a.idx', 1e7, 1e7)
    expect(c.text()).toBe('\r\u001b[2Kreading a.idx [############............] 50% 5.0/10.0 MB\r\u001b[2Kreading a.idx [########################] 100% 10.0/10.0 MB\n')
  })
})
