import { describe, it, expect } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandOf, crashIntentFile, launcherOf, parseHistory, readCrashIntents, recordCrashIntent, ReplaySchedule, restartDelayFor, type CrashIntent, type HistoryEntry } from './fault-history.ts'

const entry = (e: Partial<HistoryEntry>): HistoryEntry => ({ at: 1000, sinceStartMs: 0, step: null, target: 'all', kind: 'pause', params: {}, seed: 1, delivered: [], errors: {}, ...e })

describe('fault history', () => {
  it('parses valid lines and names the bad one', () => {
    const text = [JSON.stringify(entry({ kind: 'straggler', params: { delayMs: 5 }, step: 3, target: 1 })), '', JSON.stringify(entry({ kind: 'clear' }))].join('\n')
    expect(parseHistory(text).map(e => e.kind)).toEqual(['straggler', 'clear'])
    expect(() => parseHistory('{"at":1}\n')).toThrow(/line 1/)
    expect(() => parseHistory(`${JSON.stringify(entry({}))}\nnope`)).toThrow(/line 2 is not JSON/)
    expect(() => parseHistory(JSON.stringify(entry({ kind: 'soft-error', params: { rate: 7 } })))).toThrow(/rate/)
    expect(() => parseHistory(JSON.stringify(entry({ kind: 'crash', params: { restartAfterS: -1 } })))).toThrow(/line 1: .*restartAfterS/)
    expect(() => parseHistory(JSON.stringify(entry({ kind: 'pause', params: { restartAfterS: 2 } })))).toThrow(/restartAfterS/)
  })

  it('a crash entry: the command for the peers, the restart delay for the launcher', () => {
    const [e] = parseHistory(JSON.stringify(entry({ kind: 'crash', params: { restartAfterS: 4 }, seed: 9 })))
    expect(commandOf(e)).toEqual({ kind: 'crash', seed: 9 })
    expect(launcherOf(e)).toEqual({ restartAfterS: 4 })
    expect(commandOf(entry({ kind: 'clear' }))).toBeNull()
  })

  it('replays in order, at the recorded step (or time when no step was known)', () => {
    const r = new ReplaySchedule([entry({ step: 10, kind: 'pause' }), entry({ step: 20, kind: 'clear' }), entry({ step: null, sinceStartMs: 5000, kind: 'crash' })])
    expect(r.due(100_000, null)).toEqual([])
    expect(r.due(0, 12).map(x => x.e.kind)).toEqual(['pause'])
    expect(r.due(0, 25).map(x => x.e.kind)).toEqual(['clear'])
    expect(r.due(4000, 30)).toEqual([])
    expect(r.due(6000, 30).map(x => x.n)).toEqual([2])
    expect(r.remaining).toBe(0)
  })

  it('replays entries that were themselves replays (they are what that run injected)', () => {
    const r = new ReplaySchedule([entry({ step: 1, replayOf: 0 }), entry({ step: 2 })])
    expect(r.due(0, 5).map(x => x.n)).toEqual([0, 1])
  })
})

describe('crash intents', () => {
  const intent = (i: Partial<CrashIntent>): CrashIntent => ({ at: 10, target: 2, restartAfterS: 4, seed: 1, ...i })

  it('the newest intent aimed at the peer (or at all) since the start decides', () => {
    const h = [intent({}), intent({ target: 'all', restartAfterS: null, at: 20 })]
    expect(restartDelayFor(h, 2, 0)).toBeNull() // the newest crash aimed at all has no restart
    expect(restartDelayFor(h.slice(0, 1), 2, 0)).toBe(4)
    expect(restartDelayFor(h.slice(0, 1), 1, 0)).toBeNull()
    expect(restartDelayFor(h.slice(0, 1), 2, 50)).toBeNull()
    expect(restartDelayFor([intent({ target: 'all', restartAfterS: 0 })], null, 0)).toBe(0)
  })

  it('round-trips through the state folder; a torn or foreign line is skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-intents-'))
    try {
      const file = crashIntentFile(dir)
      expect(readCrashIntents(file)).toEqual([])
      recordCrashIntent(file, intent({}))
      recordCrashIntent(file, intent({ target: 'all', restartAfterS: null, at: 30 }))
      expect(readCrashIntents(file)).toEqual([intent({}), intent({ target: 'all', restartAfterS: null, at: 30 })])
      writeFileSync(file, `${JSON.stringify(intent({}))}\n{"at":1\n{"x":1}\n`)
      expect(readCrashIntents(file)).toEqual([intent({})])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
