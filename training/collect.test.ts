import { describe, expect, it } from 'vitest'
import type { Matrix } from '../codes/matrix.ts'
import { median } from '../codes/stats.ts'
import { adaptiveGrace, decideCollect, type CollectPolicy, type CollectView } from './collect.ts'

const view = (arrivals: Array<[number, number]>, nowMs: number, live = [0, 1, 2, 3, 4, 5], grace = 10): CollectView =>
  ({ peers: 6, arrivals: arrivals.map(([from, atMs]) => ({ from, atMs })), nowMs, live: new Set(live), adaptiveGraceMs: grace })
const none = (): ReadonlyMap<number, Matrix> => new Map()

describe('the collect rule', () => {
  const policy: CollectPolicy = { threshold: 3, timeoutMs: 1000 }
  it('waits for the threshold, then the grace after the threshold-th arrival', () => {
    expect(decideCollect(policy, view([[0, 0], [1, 2]], 5), none)).toEqual({ done: false, wakeAtMs: 1000 })
    expect(decideCollect(policy, view([[0, 0], [1, 2], [2, 4]], 5), none)).toEqual({ done: false, wakeAtMs: 14 })
    expect(decideCollect(policy, view([[0, 0], [1, 2], [2, 4]], 14), none)).toEqual({ done: true, timedOut: false })
  })
  it('ends at once when every live member delivered, or want is reached', () => {
    expect(decideCollect(policy, view([[0, 0], [1, 2], [2, 4]], 5, [0, 1, 2]), none)).toEqual({ done: true, timedOut: false })
    expect(decideCollect({ ...policy, want: 3 }, view([[0, 0], [1, 2], [2, 4]], 5), none)).toEqual({ done: true, timedOut: false })
  })
  it('times out below the threshold', () => {
    expect(decideCollect(policy, view([[0, 0]], 1000), none)).toEqual({ done: true, timedOut: true })
  })
  it('keeps waiting while the results in hand are not enough and someone may still deliver', () => {
    const p: CollectPolicy = { ...policy, enough: r => r.size >= 5 }
    const results = (n: number) => () => new Map(Array.from({ length: n }, (_, i) => [i, { rows: 1, cols: 1, data: new Float64Array(1) }]))
    expect(decideCollect(p, view([[0, 0], [1, 2], [2, 4]], 20), results(3))).toEqual({ done: false, wakeAtMs: 1000 })
    expect(decideCollect(p, view([[0, 0], [1, 2], [2, 4], [3, 30], [4, 31]], 31), results(5))).toEqual({ done: true, timedOut: false })
    // Nobody left to wait for: over, whatever the test says.
    expect(decideCollect(p, view([[0, 0], [1, 2], [2, 4]], 20, [0, 1, 2]), results(3))).toEqual({ done: true, timedOut: false })
  })
  it('adaptive grace: median + k·MAD, clamped, initial before three samples', () => {
    expect(adaptiveGrace([], 4, 2, 1000, 250)).toBe(250)
    expect(adaptiveGrace([10, 12, 14, 500], 4, 2, 1000, 250)).toBe(13 + 4 * 2)
  })
  it('adaptive grace: the very value of median + k·MAD by `median` (codes/stats.ts), bit for bit, on random samples', () => {
    // simulate and the network must cut stragglers at the same grace: the fast path may not move it by an ulp.
    let seed = 7
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
    for (let t = 0; t < 2000; t++) {
      const n = 3 + Math.floor(rnd() * 62)
      const xs = Array.from({ length: n }, () => rnd() < 0.2 ? Math.floor(rnd() * 5) : rnd() * (rnd() < 0.1 ? 4000 : 40))
      const med = median(xs)
      const want = Math.min(5000, Math.max(2, med + 4 * median(xs.map(x => Math.abs(x - med)))))
      expect(adaptiveGrace(xs, 4, 2, 5000, 250)).toBe(want)
    }
  })
})
