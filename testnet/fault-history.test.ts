import { describe, it, expect } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandOf, crashIntentFile, injectFault, launcherOf, parseHistory, readCrashIntents, recordCrashIntent, ReplaySchedule, restartDelayFor, type CrashIntent, type HistoryEntry } from './fault-history.ts'
import { generateControlKey } from '../node/control-auth.ts'
import type { ControlClient } from './control-client.ts'
import type { TestnetState } from './state.ts'

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

describe('injectFault', () => {
  it('signs one command per target peer, for that peer id and the testnet job (the client binds it to the boot)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-inject-'))
    const calls: Array<{ addr: string, type: string, body: unknown, expect: unknown }> = []
    const client = {
      status: async () => { throw new Error('unused') },
      send: async () => { throw new Error('unused') },
      stop: async () => {},
      async command (addr: string, _key: unknown, type: string, body: unknown, expect: unknown) {
        calls.push({ addr, type, body, expect })
        if (addr.endsWith('/p2p/P1')) throw new Error("peer refused 'fault': command is for another boot of this peer")
        return { applied: 'pause', active: ['pause'] }
      }
    }
    const peer = (i: number) => ({ index: i, peerId: `P${i}`, addresses: [`/ip4/127.0.0.1/tcp/${4000 + i}/p2p/P${i}`] })
    const state = { startedAt: 0, job: 'j'.repeat(64), peers: [peer(0), peer(1)] } as unknown as TestnetState
    const r = await injectFault({
      client: client as unknown as ControlClient, key: generateControlKey().privateKey, state, historyFile: join(dir, 'h.jsonl'), intentFile: crashIntentFile(dir),
      target: 'all', kind: 'pause', cmd: { kind: 'pause', seed: 3 }, step: 5
    })
    expect(calls.map(c => [c.addr, c.type, c.expect])).toEqual([
      ['/ip4/127.0.0.1/tcp/4000/p2p/P0', 'fault', { peer: 'P0', job: 'j'.repeat(64) }],
      ['/ip4/127.0.0.1/tcp/4001/p2p/P1', 'fault', { peer: 'P1', job: 'j'.repeat(64) }]
    ])
    expect(r.entry).toMatchObject({ delivered: [0], errors: { 1: expect.stringMatching(/another boot/) } })
    await injectFault({ client: client as unknown as ControlClient, key: generateControlKey().privateKey, state, historyFile: join(dir, 'h.jsonl'), intentFile: crashIntentFile(dir), target: 0, kind: 'clear', cmd: null, step: 6 })
    expect(calls[2]).toMatchObject({ type: 'fault-clear', body: {}, expect: { peer: 'P0' } })
  })
})
