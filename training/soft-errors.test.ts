import { describe, expect, it } from 'vitest'
import { createFaultInjector, flipBit } from './soft-errors.ts'

const ctx = (peer: number, step: number) => ({ peer, step, attempt: 0, layer: 1 })

describe('soft-error injector', () => {
  it('flips exactly one bit', () => {
    for (const bit of [0, 20, 52, 62, 63]) {
      const v = 1.2345
      const w = flipBit(v, bit)
      const a = new DataView(new ArrayBuffer(8)); a.setFloat64(0, v)
      const b = new DataView(new ArrayBuffer(8)); b.setFloat64(0, w)
      let diff = 0
      for (let i = 0; i < 8; i++) { let x = a.getUint8(i) ^ b.getUint8(i); while (x) { diff += x & 1; x >>= 1 } }
      expect(diff).toBe(1)
      expect(flipBit(w, bit)).toBe(v)
    }
  })

  it('fires at about the given rate, deterministically, and counts what it writes', () => {
    const run = () => {
      const inj = createFaultInjector({ seed: 4, rate: 0.1, kind: 'gaussian', magnitude: 1, model: 'probabilistic' })
      const hits: string[] = []
      for (let step = 0; step < 500; step++) {
        for (let peer = 0; peer < 4; peer++) {
          const d = new Float64Array(8)
          if (inj.inject('matmul', d, ctx(peer, step))) {
            hits.push(`${peer}/${step}`)
            expect(d.every(x => x !== 0)).toBe(true) // gaussian: every entry is wrong
          } else expect(d.every(x => x === 0)).toBe(true)
        }
      }
      return { hits, injected: inj.injected, bySite: inj.bySite.matmul }
    }
    const a = run(); const b = run()
    expect(a).toEqual(b)
    // A retried attempt of the same steps draws afresh.
    const retry = createFaultInjector({ seed: 4, rate: 0.1, kind: 'gaussian', magnitude: 1, model: 'probabilistic' })
    const retryHits: string[] = []
    for (let step = 0; step < 500; step++) for (let peer = 0; peer < 4; peer++) if (retry.inject('matmul', new Float64Array(8), { ...ctx(peer, step), attempt: 1 })) retryHits.push(`${peer}/${step}`)
    expect(retryHits).not.toEqual(a.hits)
    expect(a.injected).toBe(a.hits.length)
    expect(a.bySite).toBe(a.injected)
    expect(a.injected).toBeGreaterThan(150)
    expect(a.injected).toBeLessThan(250)
  })

  it('a bit flip changes one entry', () => {
    const inj = createFaultInjector({ seed: 1, rate: 1, kind: 'bitflip', magnitude: 1, model: 'probabilistic' })
    const d = Float64Array.from({ length: 16 }, (_, i) => i + 0.5)
    inj.inject('update', d, ctx(0, 0))
    expect(d.filter((x, i) => x !== i + 0.5 && !(Number.isNaN(x)))).toHaveLength(d.some(Number.isNaN) ? 0 : 1)
  })

  it('scheduled faults fire once at the given site and restricted sites never fire', () => {
    const inj = createFaultInjector({ seed: 1, rate: 1, kind: 'gaussian', magnitude: 1, model: 'probabilistic', sites: ['update'], schedule: [{ peer: 2, step: 3, site: 'decode', layer: 1 }] })
    const d = new Float64Array(4)
    expect(inj.inject('matmul', d, ctx(0, 0))).toBe(false)
    expect(inj.inject('decode', d, ctx(2, 3))).toBe(true)
    expect(inj.inject('decode', d, ctx(2, 3))).toBe(false)
    expect(inj.inject('update', d, ctx(0, 0))).toBe(true)
    expect(inj.events.map(e => e.site)).toEqual(['decode', 'update'])
  })
})
