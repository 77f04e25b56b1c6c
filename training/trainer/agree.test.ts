import { describe, expect, it } from 'vitest'
import { decideAudit, decideStep, faultTolerance, hasQuorum, quarantineLimit, rateLimit, ROLLBACKS_PER_CAUSE } from './agree.ts'
import { createScheme } from '../../codes/index.ts'
import { isElsewhere, networkPosition } from './resync.ts'
import { emptyAuditVerdict, type Verdict } from '../recovery.ts'

const vote = (uncorrectable: boolean, flagged: number[] = []): Verdict => ({ uncorrectable, flagged: new Set(flagged) })
const votes = (vs: Verdict[]): Map<number, Verdict> => new Map(vs.map((v, i) => [i, v]))

describe('quorum decisions (f = 1, P = 6)', () => {
  it('a lone rollback vote is outvoted and its voter flagged', () => {
    const d = decideStep(votes([vote(false), vote(true), vote(false), vote(false), vote(false), vote(false)]), 1, 6)
    expect(d.rollback).toBe(false)
    expect([...d.contradicted]).toEqual([1])
    expect(d.flagged.has(1)).toBe(true)
  })

  it('f + 1 rollback votes roll back, and name the peers they suspected as the cause', () => {
    const d = decideStep(votes([vote(true, [4]), vote(true, [4]), vote(false), vote(false), vote(false), vote(false)]), 1, 6)
    expect(d.rollback).toBe(true)
    expect([...d.suspects]).toEqual([4])
  })

  it('a lone accusation flags nobody; two do; a peer that flags itself is believed', () => {
    expect([...decideStep(votes([vote(false, [3]), vote(false), vote(false), vote(false), vote(false), vote(false)]), 1, 6).flagged]).toEqual([])
    expect([...decideStep(votes([vote(false, [3]), vote(false, [3]), vote(false), vote(false), vote(false), vote(false)]), 1, 6).flagged]).toEqual([3])
    expect([...decideStep(votes([vote(false), vote(false), vote(false), vote(false), vote(false), vote(false, [5])]), 1, 6).flagged]).toEqual([5])
  })

  it('without votes from a strict majority nothing is confirmed', () => {
    expect(hasQuorum(votes([vote(false), vote(false), vote(false)]), 6)).toBe(false)
    expect(decideStep(votes([vote(false), vote(false), vote(false)]), 1, 6).rollback).toBe(true)
    const a = decideAudit(new Map([[0, emptyAuditVerdict(2)], [1, emptyAuditVerdict(2)], [2, emptyAuditVerdict(2)]]), 1, 2, 6)
    expect(a.uncorrectable).toBe(true)
  })

  it('with f = 0 every vote counts (the union rule)', () => {
    expect(decideStep(votes([vote(false), vote(true), vote(false)]), 0, 3).rollback).toBe(true)
  })

  it('an audit repairs a part when f + 1 voters or its owner name it', () => {
    const v = (shards: number[][], biases: number[] = [], uncorrectable = false) => ({ uncorrectable, short: false, shards: shards.map(s => new Set(s)), biases: new Set(biases) })
    const a = decideAudit(new Map([[0, v([[2], []])], [1, v([[2], []])], [2, v([[], []], [2])], [3, v([[], [5]])], [4, v([[], []], [], true)]]), 1, 2, 6)
    expect([...a.shards[0]]).toEqual([2])
    expect([...a.shards[1]]).toEqual([])
    expect([...a.biases]).toEqual([2])
    expect(a.uncorrectable).toBe(false)
  })

  it('an audit undecidable for want of sketches is inconclusive (short), not a rollback; with every sketch in hand it is', () => {
    const v = (uncorrectable: boolean, short: boolean) => ({ uncorrectable, short, shards: [new Set<number>(), new Set<number>()], biases: new Set<number>() })
    // P = 5, f = 1: three voters, the two that judged with sketches missing could not decide.
    const shortOnly = decideAudit(new Map([[0, v(true, true)], [2, v(true, true)], [3, v(false, false)]]), 1, 2, 5)
    expect(shortOnly.uncorrectable).toBe(true)
    expect(shortOnly.short).toBe(true)
    // f + 1 voters had every sketch and still could not decide: a real rollback.
    const full = decideAudit(new Map([[0, v(true, false)], [2, v(true, false)], [3, v(true, true)]]), 1, 2, 5)
    expect(full.uncorrectable).toBe(true)
    expect(full.short).toBe(false)
    // One full undecidable vote (a liar) and one short one: still only inconclusive.
    const mixed = decideAudit(new Map([[0, v(true, false)], [2, v(true, true)], [3, v(false, false)]]), 1, 2, 5)
    expect(mixed.short).toBe(true)
  })

  it('rate-limits rollbacks per cause: the same ≤ f suspects, three times in the window, are quarantined', () => {
    const causes = new Map<string, number[]>()
    let q: Set<number> | null = null
    for (let k = 0; k < ROLLBACKS_PER_CAUSE; k++) q = rateLimit(causes, new Set([3]), 10 + k, 1)
    expect(q === null ? null : [...q]).toEqual([3])
    // More suspects than f: not a few faulty peers; no quarantine.
    for (let k = 0; k < 5; k++) expect(rateLimit(causes, new Set([1, 2]), 10 + k, 1)).toBeNull()
    // Nobody to blame: not limited.
    expect(rateLimit(causes, new Set(), 12, 1)).toBeNull()
  })
})

describe('the quarantine limit', () => {
  it('leaves the rest able to correct one error: PolyDot may quarantine f, replication r = 3 none', () => {
    const polydot = createScheme({ kind: 'polydot', peers: 6, m: 2, n: 1 })
    expect(quarantineLimit(polydot, 'probabilistic')).toBe(faultTolerance(polydot))
    expect(quarantineLimit(polydot, 'probabilistic')).toBeGreaterThan(0)
    // One replica out leaves its block two copies: they detect, they cannot correct.
    const rep3 = createScheme({ kind: 'replication', peers: 6, replicas: 3 })
    expect(faultTolerance(rep3)).toBe(2)
    expect(quarantineLimit(rep3, 'probabilistic')).toBe(0)
    const rep4 = createScheme({ kind: 'replication', peers: 8, replicas: 4 })
    expect(quarantineLimit(rep4, 'probabilistic')).toBe(1)
    expect(quarantineLimit(createScheme({ kind: 'uncoded', peers: 4 }), 'probabilistic')).toBe(0)
  })
})

describe('the network position', () => {
  const at = (step: number, attempt: number, seq: number) => ({ step, attempt, seq })
  it('is the median of the others heard since a point, and needs half of them', () => {
    expect(networkPosition([null, at(5, 0, 3), at(5, 0, 4), at(4, 0, 5), null], 0, 0)).toEqual({ step: 5, attempt: 0 })
    expect(networkPosition([null, at(5, 0, 1), at(5, 0, 2), null, null], 0, 1)).toBeNull()
  })
  it('one step ahead at the same attempt is speculation, not elsewhere; another attempt or further is', () => {
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 8, attempt: 3 })).toBe(false)
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 9, attempt: 3 })).toBe(false)
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 10, attempt: 3 })).toBe(true)
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 7, attempt: 3 })).toBe(true)
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 9, attempt: 4 })).toBe(true)
    expect(isElsewhere({ step: 8, attempt: 3 }, { step: 8, attempt: 4 })).toBe(true)
  })
  it('counting the peer itself, both halves of an even split pick the same side', () => {
    const ps = [at(9, 2, 9), at(9, 2, 9), at(9, 2, 9), at(12, 1, 9), at(12, 1, 9), at(12, 1, 9)]
    const a = networkPosition(ps, 0, 0, { step: 9, attempt: 2 })
    const b = networkPosition(ps, 4, 0, { step: 12, attempt: 1 })
    expect(a).toEqual(b)
  })
})
