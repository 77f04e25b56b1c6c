import { describe, expect, it } from 'vitest'
import { matrix, type Matrix } from '../codes/matrix.ts'
import { createMemoryNetwork, type MemoryNetworkOptions } from './memory-exchange.ts'
import type { Collected, CollectPolicy } from './exchange.ts'

const P = 6
const payload = (p: number): Matrix => matrix(1, 4, [p, p + 1, p + 2, p + 3])

/** Every peer publishes its payload for `rounds` rounds and collects with `policy`. */
async function runRounds (opts: Partial<MemoryNetworkOptions>, policy: CollectPolicy, rounds = 5): Promise<Array<Array<{ from: number[], arrival: number[], data: number[][], timedOut: boolean }>>> {
  const net = createMemoryNetwork({ peers: P, seed: 42, ...opts })
  const out = await Promise.all(Array.from({ length: P }, async (_, p) => {
    const ex = net.exchange(p)
    const res = []
    for (let r = 0; r < rounds; r++) {
      const key = { step: r, layer: 0, phase: 'forward', attempt: 0 }
      await ex.publish(key, payload(p))
      const c: Collected = await ex.collect(key, policy)
      res.push({ from: [...c.results.keys()], arrival: [...c.arrivalMs.values()], data: [...c.results.values()].map(m => Array.from(m.data)), timedOut: c.timedOut })
    }
    return res
  }))
  return out
}

describe('memory exchange', () => {
  it('delivers every result, own included, with no faults', async () => {
    const r = await runRounds({}, { threshold: P, timeoutMs: 1000 })
    for (const peer of r) for (const round of peer) {
      expect([...round.from].sort()).toEqual([0, 1, 2, 3, 4, 5])
      expect(round.timedOut).toBe(false)
    }
  })

  it('is deterministic for a seed under drops, delays, reorders, corruption and stragglers', async () => {
    const faults = { dropRate: 0.2, corruptRate: 0.1, delayRate: 0.2, delayMs: 5, reorderRate: 0.3, stragglers: { 3: 20 }, datagrams: true }
    const policy = { threshold: 3, timeoutMs: 100 }
    const a = await runRounds(faults, policy, 12)
    const b = await runRounds(faults, policy, 12)
    expect(a).toEqual(b)
    const c = await runRounds({ ...faults }, { ...policy }, 12).then(async () => await runRounds(faults, policy, 12))
    expect(c).toEqual(a)
    // Something did go wrong in these rounds: some results missing, some corrupted.
    const flat = a.flat()
    expect(flat.some(r => r.from.length < P)).toBe(true)
    expect(flat.some(r => r.data.some(d => !Number.isInteger(d[0])))).toBe(true)
  })

  it('with stream semantics (the default) a lost message is sent again and arrives late, never garbled', async () => {
    const lossy = await runRounds({ dropRate: 0.5, corruptRate: 0.3 }, { threshold: P, timeoutMs: 10_000 }, 6)
    const clean = await runRounds({}, { threshold: P, timeoutMs: 10_000 }, 6)
    for (let p = 0; p < P; p++) {
      for (let r = 0; r < 6; r++) {
        expect(lossy[p][r].from.sort()).toEqual([0, 1, 2, 3, 4, 5])
        expect(lossy[p][r].data.flat().every(Number.isInteger)).toBe(true)
      }
    }
    // Retransmissions show as delay.
    const latest = (x: typeof clean): number => Math.max(...x.flat().map(r => Math.max(...r.arrival)))
    expect(latest(lossy)).toBeGreaterThan(latest(clean))
  })

  it('a different seed gives a different fault pattern', async () => {
    const faults = { dropRate: 0.3, datagrams: true }
    const a = await runRounds({ ...faults, seed: 1 }, { threshold: 1, timeoutMs: 100 }, 8)
    const b = await runRounds({ ...faults, seed: 2 }, { threshold: 1, timeoutMs: 100 }, 8)
    expect(a).not.toEqual(b)
  })

  it('leaves a straggler out after the grace period, and waits for it when told to', async () => {
    const late = await runRounds({ stragglers: { 5: 50 } }, { threshold: 4, graceMs: 5, timeoutMs: 1000 })
    for (let p = 0; p < 5; p++) for (const round of late[p]) expect(round.from).not.toContain(5)
    const patient = await runRounds({ stragglers: { 5: 50 } }, { threshold: P, timeoutMs: 1000 })
    for (let p = 0; p < 5; p++) for (const round of patient[p]) expect(round.from).toContain(5)
  })

  it('adaptive grace drops a straggler once arrival statistics exist', async () => {
    const r = await runRounds({ stragglers: { 2: 40 } }, { threshold: 3, timeoutMs: 1000 }, 6)
    // After a few rounds of history, peer 0 stops waiting for peer 2.
    expect(r[0][5].from).not.toContain(2)
  })

  it('times out when fewer than threshold results can arrive', async () => {
    const r = await runRounds({ dropRate: 1, datagrams: true }, { threshold: 2, timeoutMs: 50 }, 1)
    expect(r[0][0].timedOut).toBe(true)
    expect(r[0][0].from).toEqual([0])
  })

  it('with datagrams, a round pulls lost results only when it cannot go on without them', async () => {
    const faults = { dropRate: 0.2, datagrams: true }
    // Three results are enough: the erasures are absorbed, nothing is asked for again.
    const net = createMemoryNetwork({ peers: P, seed: 7, ...faults })
    const absorbed = await Promise.all(Array.from({ length: P }, async (_, p) => {
      const ex = net.exchange(p)
      const key = { step: 0, layer: 0, phase: 'forward', attempt: 0 }
      await ex.publish(key, payload(p))
      return await ex.collect(key, { threshold: 3, graceMs: 5, timeoutMs: 1000 })
    }))
    expect(net.stats.dropped).toBeGreaterThan(0)
    expect(net.stats.pulled).toBe(0)
    expect(absorbed.some(c => c.results.size < P)).toBe(true)
    // Results that must all be in to decode: every lost one is pulled, no round times out.
    const strict = await runRounds(faults, { threshold: 3, graceMs: 5, timeoutMs: 1000, enough: r => r.size === P }, 12)
    for (const peer of strict) for (const round of peer) {
      expect(round.timedOut).toBe(false)
      expect([...round.from].sort()).toEqual([0, 1, 2, 3, 4, 5])
    }
    // A partition is not a loss: nothing crosses a cut, pulled or not.
    const cutNet = createMemoryNetwork({ peers: 3, seed: 3, ...faults })
    cutNet.cut(1, 0)
    const got = await Promise.all([0, 1, 2].map(async p => {
      const ex = cutNet.exchange(p)
      const key = { step: 0, layer: 0, phase: 'forward', attempt: 0 }
      await ex.publish(key, payload(p))
      return await ex.collect(key, { threshold: 2, graceMs: 5, timeoutMs: 200, enough: r => r.size === 3 })
    }))
    expect(got[0].results.has(1)).toBe(false)
  })

  it('sends only to the listed peers and counts bytes', async () => {
    const net = createMemoryNetwork({ peers: 3, seed: 1 })
    const key = { step: 0, layer: 0, phase: 'shard', attempt: 0 }
    const [, got1, got2] = await Promise.all([0, 1, 2].map(async p => {
      const ex = net.exchange(p)
      if (p === 0) await ex.publish(key, payload(0), [2])
      return await ex.collect(key, { threshold: 1, timeoutMs: 10 })
    }))
    expect([...got1.results.keys()]).toEqual([])
    expect([...got2.results.keys()]).toEqual([0])
    expect(net.stats.messages).toBe(1)
    expect(net.stats.bytesSent).toBe(4 * 8 + 32)
  })
})
