import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { createProgressReporter, formatProgress } from './progress.ts'

function capture (): { stream: PassThrough & { isTTY?: boolean }, text: () => string } {
  const stream = new PassThrough()
  let out = ''
  stream.on('data', (d: Buffer) => { out += d.toString() })
  return { stream, text: () => out }
}

const snap = (step: number) => ({ step, totalSteps: 100, loss: 0.5, faults: { injected: 3, detected: 2, corrected: 2, uncorrectable: 0, silent: 0 }, rollbacks: 1, repairs: 2 })

describe('progress reporter', () => {
  it('formats step, loss and fault counters', () => {
    const s = formatProgress(snap(50), 10)
    expect(s).toContain('step 50/100')
    expect(s).toContain('loss 0.5000')
    expect(s).toContain('inj 3 det 2 cor 2 unc 0 silent 0')
    expect(s).toContain('rollbacks 1')
    expect(s).toContain('eta 10s')
  })

  it('writes plain lines every 5 % when not a TTY', async () => {
    const c = capture()
    const p = createProgressReporter({ stream: c.stream, tty: false })
    for (let i = 1; i <= 100; i++) p.update(snap(i))
    p.done()
    const lines = c.text().trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(20)
    expect(lines.length).toBeLessThanOrEqual(22)
    expect(c.text()).not.toContain('\r')
  })

  it('redraws one line with a bar on a TTY', () => {
    const c = capture()
    let t = 0
    const p = createProgressReporter({ stream: c.stream, tty: true, redrawMs: 100, now: () => t })
    for (let i = 1; i <= 10; i++) { t += 60; p.update(snap(i)) }
    p.done()
    expect(c.text()).toContain('\r')
    expect(c.text()).toContain('[')
    expect(c.text().split('\n').length).toBe(2)
    expect(c.text().split('\r').length).toBeLessThan(10)
  })
})
