import { describe, expect, it } from 'vitest'
import { DEFAULT_SOAK_BASE, drawNemesis, PEER_ROLES, toleratedFaults } from './nemesis.ts'
import { trainingConfigFromFlags } from '../../training/config.ts'
import { faultPlanFromFlags } from '../../training/network-flags.ts'

describe('the soak nemesis', () => {
  it('computes f = ⌊(P − Q)/2⌋ from the code', () => {
    const f = (peers: number): number => toleratedFaults(trainingConfigFromFlags({ peers: String(peers), dataset: 'synthetic', model: '16-12-8-4', steps: '10' }))
    expect(f(6)).toBe(1) // m=2, n=1: Q = 3
    expect(f(10)).toBe(2) // m=2, n=2: Q = 6
  })

  for (const peers of [6, 10]) {
    it(`draws reproducible faults with at most f faulty peers, each distinct (P = ${peers})`, () => {
      const base = { ...DEFAULT_SOAK_BASE, peers }
      const seen = new Set<string>()
      let soft = 0; let datagrams = 0
      for (let seed = 1; seed <= 300; seed++) {
        const n = drawNemesis(seed, base)
        expect(drawNemesis(seed, base)).toEqual(n)
        expect(n.roles.length).toBeLessThanOrEqual(n.f)
        expect(new Set(n.roles.map(r => r.peer)).size).toBe(n.roles.length)
        const faulty = new Set([...n.plan.byzantinePeers, ...n.plan.lyingVoters, ...n.plan.crashes.map(c => c.peer), ...n.plan.partitions.flatMap(p => p.groups.flat()), ...Object.keys(n.plan.network.stragglers ?? {}).map(Number)])
        expect(faulty.size).toBe(n.roles.length)
        for (const r of n.roles) seen.add(r.role)
        for (const c of n.plan.crashes) expect(c.atStep + c.downSteps).toBeLessThanOrEqual(base.steps - 6)
        for (const p of n.plan.partitions) { expect(p.fromStep).toBeGreaterThan(0); expect(p.toStep).toBeLessThan(base.steps) }
        expect(n.clean.errorRate).toBe(0)
        expect(n.clean.seed).toBe(seed)
        expect({ ...n.config, errorRate: 0, errorKind: n.clean.errorKind, errorModel: n.clean.errorModel, errorMagnitude: n.clean.errorMagnitude }).toEqual(n.clean)
        if (n.softErrors !== null) { soft++; expect(n.config.errorRate).toBe(n.softErrors.rate) }
        if (n.plan.network.datagrams === true) datagrams++
        // What the soak draws, the CLI flags can say (the same validation accepts it).
        expect(() => faultPlanFromFlags({
          crash: n.plan.crashes.map(c => `${c.peer}@${c.atStep}+${c.downSteps}`),
          partition: n.plan.partitions.map(p => `${p.fromStep}-${p.toStep}:${p.groups.map(g => g.join(',')).join('|')}`)
        }, { config: n.config, totalSteps: base.steps })).not.toThrow()
        expect(n.text).not.toBe('')
      }
      expect([...seen].sort()).toEqual([...PEER_ROLES].sort())
      expect(soft).toBeGreaterThan(120)
      expect(datagrams).toBeGreaterThan(20)
    })
  }
})
