import { describe, it, expect } from 'vitest'
import { faultFromFlags, parseHistory, parseTarget, ReplaySchedule, restartDelayFor, type HistoryEntry } from './faults.ts'

const entry = (e: Partial<HistoryEntry>): HistoryEntry => ({ at: 1000, sinceStartMs: 0, step: null, target: 'all', kind: 'pause', params: {}, seed: 1, delivered: [], errors: {}, ...e })

describe('codenet fault flags', () => {
  it('builds each kind with its defaults and refuses bad or foreign flags', () => {
    expect(faultFromFlags('soft-error', { seed: '4' }, 6)).toMatchObject({ kind: 'soft-error', seed: 4, rate: 0.05, errorKind: 'gaussian', magnitude: 1, site: 'matmul' })
    expect(faultFromFlags('soft-error', { rate: '0.5', kind: 'bitflip', step: 'any' }, 6)).toMatchObject({ rate: 0.5, errorKind: 'bitflip', site: 'any' })
    expect(faultFromFlags('straggler', { 'delay-ms': '250' }, 6)).toMatchObject({ delayMs: 250 })
    expect(faultFromFlags('crash', { 'restart-after-s': '3' }, 6)).toMatchObject({ restartAfterS: 3 })
    expect(faultFromFlags('partition', { from: '1', to: '4' }, 6)).toMatchObject({ from: 1, to: 4 })
    expect(faultFromFlags('partition', {}, 6)?.from).toBeUndefined()
    expect(faultFromFlags('clear', {}, 6)).toBeNull()
    expect(() => faultFromFlags('straggler', { rate: '0.1' }, 6)).toThrow(/does not apply/)
    expect(() => faultFromFlags('soft-error', { rate: 'lots' }, 6)).toThrow(/--rate/)
    expect(() => faultFromFlags('soft-error', { step: 'lunch' }, 6)).toThrow(/--step/)
    expect(() => faultFromFlags('partition', { from: '1' }, 6)).toThrow(/both/)
    expect(() => faultFromFlags('partition', { from: '1', to: '1' }, 6)).toThrow(/different/)
    expect(() => faultFromFlags('partition', { from: '1', to: '9' }, 6)).toThrow(/--to/)
    expect(() => faultFromFlags('flood', {}, 6)).toThrow(/unknown fault kind/)
    const s = faultFromFlags('pause', {}, 6)?.seed as number
    expect(Number.isInteger(s) && s >= 0).toBe(true)
  })
  it('targets', () => {
    expect(parseTarget(undefined, 4)).toBe('all')
    expect(parseTarget('2', 4)).toBe(2)
    expect(() => parseTarget('4', 4)).toThrow(/0…3/)
    expect(() => parseTarget('-1', 4)).toThrow()
  })
})

describe('fault history', () => {
  it('parses valid lines and names the bad one', () => {
    const text = [JSON.stringify(entry({ kind: 'straggler', params: { delayMs: 5 }, step: 3, target: 1 })), '', JSON.stringify(entry({ kind: 'clear' }))].join('\n')
    expect(parseHistory(text).map(e => e.kind)).toEqual(['straggler', 'clear'])
    expect(() => parseHistory('{"at":1}\n')).toThrow(/line 1/)
    expect(() => parseHistory(`${JSON.stringify(entry({}))}\nnope`)).toThrow(/line 2 is not JSON/)
    expect(() => parseHistory(JSON.stringify(entry({ kind: 'soft-error', params: { rate: 7 } })))).toThrow(/rate/)
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
  it('finds the restart delay of a crash', () => {
    const h = [entry({ kind: 'crash', target: 2, params: { restartAfterS: 4 }, at: 10 }), entry({ kind: 'crash', target: 'all', params: {}, at: 20 })]
    expect(restartDelayFor(h, 2, 0)).toBeNull() // the newest crash aimed at all has no restart
    expect(restartDelayFor(h.slice(0, 1), 2, 0)).toBe(4)
    expect(restartDelayFor(h.slice(0, 1), 1, 0)).toBeNull()
    expect(restartDelayFor(h.slice(0, 1), 2, 50)).toBeNull()
  })
})
