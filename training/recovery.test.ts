import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { zeros } from '../codes/matrix.ts'
import {
  type AuditVerdict, auditVerdicts, decodeAuditVerdict, decodeVerdict, encodeAuditVerdict, encodeVerdict,
  majorityCopy, stepVerdicts
} from './recovery.ts'

/** The audit verdict's wire form: flat indices l·P + p (shards) and L·P + p (biases) after the two flags. */
function flatEncoding (v: AuditVerdict, P: number): Float64Array {
  const L = v.shards.length
  const m = zeros(1, (L + 1) * P + 2)
  m.data[0] = v.uncorrectable ? 1 : 0
  m.data[1] = v.uncorrectable && v.short ? 1 : 0
  v.shards.forEach((s, l) => { for (const p of s) m.data[2 + l * P + p] = 1 })
  for (const p of v.biases) m.data[2 + L * P + p] = 1
  return m.data
}

const auditVerdict = (P: number, L: number): fc.Arbitrary<AuditVerdict> => fc.record({
  uncorrectable: fc.boolean(),
  short: fc.boolean(),
  shards: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: P - 1 })), { minLength: L, maxLength: L }).map(ls => ls.map(a => new Set(a))),
  biases: fc.uniqueArray(fc.integer({ min: 0, max: P - 1 })).map(a => new Set(a))
})

describe('verdicts on the wire', () => {
  it('a step verdict is [uncorrectable, flagged_0 … flagged_{P−1}]', () => {
    const m = encodeVerdict({ uncorrectable: true, flagged: new Set([1, 4]) }, 5)
    expect([m.rows, m.cols]).toEqual([1, 6])
    expect([...m.data]).toEqual([1, 0, 1, 0, 0, 1])
    expect(decodeVerdict(m, 5)).toEqual({ uncorrectable: true, flagged: new Set([1, 4]) })
  })

  it('an audit verdict keeps the flat l·P + p / L·P + p layout and round-trips', () => {
    const sized = fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }))
      .chain(([P, L]) => fc.tuple(fc.constant(P), fc.constant(L), auditVerdict(P, L)))
    fc.assert(fc.property(sized, ([P, L, v]) => {
      const m = encodeAuditVerdict(v, P)
      expect(m.data).toEqual(flatEncoding(v, P))
      // `short` only qualifies an undecidable verdict.
      expect(decodeAuditVerdict(m, P, L)).toEqual({ ...v, short: v.uncorrectable && v.short })
    }), { seed: 11 })
  })

  it('refuses malformed payloads', () => {
    const codec = auditVerdicts(3, 2)
    expect(codec.decode(zeros(1, 10))).toBeNull()
    const bad = zeros(1, 11); bad.data[3] = 0.5
    expect(codec.decode(bad)).toBeNull()
    expect(stepVerdicts(3).decode(zeros(2, 4))).toBeNull()
  })

  it('unions flag whoever anyone flagged, per part', () => {
    const codec = auditVerdicts(4, 2)
    const u = codec.union([
      { uncorrectable: false, short: false, shards: [new Set([1]), new Set()], biases: new Set() },
      { uncorrectable: true, short: true, shards: [new Set([3]), new Set([0])], biases: new Set([2]) }
    ])
    expect(u).toEqual({ uncorrectable: true, short: true, shards: [new Set([1, 3]), new Set([0])], biases: new Set([2]) })
  })
})

describe('majorityCopy', () => {
  it('returns the copy a strict majority holds, or null', () => {
    const a = Float64Array.of(1, 2, 3); const b = Float64Array.of(1, 2, 4)
    expect(majorityCopy(new Map([[0, a], [1, a.slice()], [2, b]]), 3)).toEqual(a)
    expect(majorityCopy(new Map([[0, a], [1, b]]), 3)).toBeNull()
  })

  it('picks the same reference whatever order the copies came in (copies drifting apart at the rounding level)', () => {
    // Six copies on a line, 0.6 tolerances apart: the ends are not within tolerance of each
    // other, the middle ones are within tolerance of four or five copies.
    const tol = 1e-8
    const at = (k: number): Float64Array => Float64Array.of(1 + 0.6 * k * tol, 1)
    const copies = [0, 1, 2, 3, 4, 5].map(k => [k, at(k)] as [number, Float64Array])
    const refs = new Set<number>()
    // Each peer lists its own copy first (as an audit's results do): every order gives one reference.
    for (let first = 0; first < 6; first++) {
      const order = [copies[first], ...copies.filter((_, i) => i !== first)]
      const ref = majorityCopy(new Map(order), 6, tol)
      expect(ref).not.toBeNull()
      refs.add(ref![0])
    }
    expect(refs.size).toBe(1)
    // And it is a central copy, within tolerance of a strict majority.
    const ref = [...refs][0]
    expect(copies.filter(([, v]) => Math.abs(v[0] - ref) / Math.hypot(ref, 1) <= tol).length).toBeGreaterThan(3)
  })
})
