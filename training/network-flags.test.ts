import { describe, expect, it } from 'vitest'
import { ConfigError, trainingConfigFromFlags } from './config.ts'
import { describeFaultPlan, faultPlanFromFlags, parseCrash, parsePartition, refuseOnTestnet, simulateFaultOptions, TESTNET_REFUSALS, type RawFaultFlags } from './network-flags.ts'

const config = trainingConfigFromFlags({ peers: '6', dataset: 'synthetic', model: '16-12-8-4', steps: '40' })
const plan = (raw: RawFaultFlags, c = config): ReturnType<typeof faultPlanFromFlags> => faultPlanFromFlags(raw, { config: c, totalSteps: 40 })
const refused = (raw: RawFaultFlags, c = config): string => {
  try { plan(raw, c) } catch (err) { expect(err).toBeInstanceOf(ConfigError); return (err as Error).message }
  throw new Error(`accepted ${JSON.stringify(raw)}`)
}

describe('fault flags', () => {
  it('map to the simulate options', () => {
    const p = plan({
      'drop-rate': '0.3',
      datagrams: true,
      'delay-rate': '0.2',
      'delay-ms': '30',
      'jitter-ms': '2',
      'duplicate-rate': '0.1',
      'reorder-rate': '0.5',
      'corrupt-rate': '0.05',
      'corrupt-magnitude': '0.001',
      straggler: ['1:300', '4:20'],
      partition: ['10-20:0,1,2|3,4,5', '25-:5', '0,1'],
      crash: ['2@5+3'],
      'byzantine-peers': '1,',
      'lying-voters': '3,4'
    })
    expect(p.network).toEqual({ dropRate: 0.3, datagrams: true, delayRate: 0.2, delayMs: 30, jitterMs: 2, duplicateRate: 0.1, reorderRate: 0.5, corruptRate: 0.05, corruptMagnitude: 0.001, stragglers: { 1: 300, 4: 20 } })
    expect(p.partitions).toEqual([
      { fromStep: 10, toStep: 20, groups: [[0, 1, 2], [3, 4, 5]] },
      { fromStep: 25, toStep: Infinity, groups: [[5]] },
      { fromStep: 0, toStep: Infinity, groups: [[0, 1]] }
    ])
    expect(p.crashes).toEqual([{ peer: 2, atStep: 5, downSteps: 3 }])
    expect(p.byzantinePeers).toEqual([1])
    expect(p.lyingVoters).toEqual([3, 4])
    const o = simulateFaultOptions(p)
    expect(Object.keys(o).sort()).toEqual(['byzantinePeers', 'crashes', 'lyingVoters', 'network', 'partitions'])
    expect(describeFaultPlan(p)).toBe('drop 0.3 delay 0.2×30ms jitter 2ms dup 0.1 reorder 0.5 corrupt 0.05σ0.001 datagrams straggler 1:300ms straggler 4:20ms partition 10-20:0,1,2|3,4,5 partition 25-:5 partition 0,1 crash 2@5+3 byzantine [1] lying [3,4]')
    expect(simulateFaultOptions(plan({}))).toEqual({})
    expect(describeFaultPlan(plan({}))).toBe('')
  })

  it('--delay-ms alone delays every message; --fault-site needs soft errors', () => {
    expect(plan({ 'delay-ms': '5' }).network).toEqual({ delayMs: 5, delayRate: 1 })
    const withErrors = trainingConfigFromFlags({ dataset: 'synthetic', model: '16-12-8-4', steps: '40', 'error-rate': '0.01' })
    expect(plan({ 'fault-site': ['matmul', 'update', 'matmul'] }, withErrors).faultSites).toEqual(['matmul', 'update'])
    expect(refused({ 'fault-site': ['matmul'] })).toMatch(/--fault-site .*needs --error-rate/)
    expect(refused({ 'fault-site': ['nowhere'] }, withErrors)).toMatch(/^--fault-site must be one of matmul\|/)
  })

  it('draws K byzantine peers and lying voters from the seed: distinct, disjoint, reproducible', () => {
    const a = plan({ 'byzantine-peers': '2', 'lying-voters': '2' })
    expect(a.byzantinePeers).toHaveLength(2)
    expect(a.lyingVoters).toHaveLength(2)
    expect(new Set([...a.byzantinePeers, ...a.lyingVoters]).size).toBe(4)
    expect(plan({ 'byzantine-peers': '2', 'lying-voters': '2' })).toEqual(a)
    const seeds = new Set<string>()
    for (let s = 1; s <= 20; s++) seeds.add(plan({ 'byzantine-peers': '1' }, { ...config, seed: s }).byzantinePeers.join())
    expect(seeds.size).toBeGreaterThan(2)
    // A count next to an explicit list avoids the listed peers.
    for (let s = 1; s <= 20; s++) expect(plan({ 'byzantine-peers': '4', 'lying-voters': '0,' }, { ...config, seed: s }).byzantinePeers).not.toContain(0)
  })

  it('refuses bad values with one line naming the flag', () => {
    const cases: Array<[RawFaultFlags, RegExp]> = [
      [{ 'drop-rate': '1.5' }, /^--drop-rate must be a probability between 0 and 1, got 1.5$/],
      [{ 'drop-rate': 'lots' }, /^--drop-rate must be a probability/],
      [{ 'reorder-rate': '-0.1' }, /^--reorder-rate must be a probability/],
      [{ 'delay-ms': '1e9' }, /^--delay-ms must be between 0 and 600000 ms/],
      [{ 'corrupt-magnitude': '2' }, /^--corrupt-magnitude needs --corrupt-rate/],
      [{ straggler: ['6:10'] }, /^--straggler 6:10: the peer must be between 0 and 5, got 6$/],
      [{ straggler: ['1'] }, /^--straggler must look like PEER:MS/],
      [{ straggler: ['1:5', '1:6'] }, /^--straggler: peer 1 is given twice/],
      [{ partition: ['20-10:0|1'] }, /^--partition '20-10:0\|1': TO must be after FROM/],
      [{ partition: ['40-50:0'] }, /FROM 40 is at or after the end of the run \(40 steps\)/],
      [{ partition: ['0,1,2|3,4,5,0'] }, /peer 0 is in two groups/],
      [{ partition: ['0,1,2,3,4,5'] }, /the groups put every peer on one side/],
      [{ partition: ['1-2:0||1'] }, /an empty group/],
      [{ partition: ['x:0|1'] }, /^--partition must look like FROM-TO:GROUPS/],
      [{ crash: ['2@5'] }, /^--crash must look like PEER@STEP\+DOWN/],
      [{ crash: ['2@35+5'] }, /would come back at step 40, not before the end of the run \(40 steps\)/],
      [{ crash: ['2@5+0'] }, /DOWN must be between 1 and/],
      [{ crash: ['9@5+1'] }, /the peer must be between 0 and 5, got 9/],
      [{ 'lying-voters': '6' }, /^--lying-voters must be at most 5 \(P − 1/],
      [{ 'byzantine-peers': 'two' }, /^--byzantine-peers must be a number of peers K or a list/],
      [{ 'byzantine-peers': '1,1' }, /peer 1 is listed twice/],
      [{ 'byzantine-peers': '0,1,2,3,4,5' }, /at most 5 peers/],
      [{ 'byzantine-peers': '3', 'lying-voters': '3' }, /^--lying-voters 3 with 3 byzantine peers/],
      [{ 'byzantine-peers': '0,1,2', 'lying-voters': '3,4,5' }, /together name 6 of 6 peers/]
    ]
    for (const [raw, re] of cases) {
      const msg = refused(raw)
      expect(msg, JSON.stringify(raw)).toMatch(re)
      expect(msg).not.toContain('\n')
    }
  })

  it('parses partition and crash specs on their own', () => {
    expect(parsePartition('3-:1|2', 4, null)).toEqual({ fromStep: 3, toStep: Infinity, groups: [[1], [2]] })
    expect(parseCrash('0@0+1', 4, null)).toEqual({ peer: 0, atStep: 0, downSteps: 1 })
    expect(parseCrash('0@100+100', 4, null)).toEqual({ peer: 0, atStep: 100, downSteps: 100 })
  })

  it('says which flags a real testnet refuses, and why', () => {
    expect(() => { refuseOnTestnet({ 'byzantine-peers': '1', straggler: ['1:5'], partition: ['0,1,2'], 'lying-voters': '1', 'fault-site': ['matmul'] }) }).not.toThrow()
    expect(() => { refuseOnTestnet({ datagrams: false, straggler: [] }) }).not.toThrow()
    for (const flag of ['drop-rate', 'delay-ms', 'delay-rate', 'jitter-ms', 'duplicate-rate', 'reorder-rate', 'corrupt-rate', 'crash'] as const) {
      expect(TESTNET_REFUSALS[flag]).not.toBeNull()
      const raw: RawFaultFlags = flag === 'crash' ? { crash: ['1@2+3'] } : { [flag]: '0.1' }
      expect(() => { refuseOnTestnet(raw) }).toThrow(new RegExp(`^--${flag} is not available on codenet testnet: `))
    }
    expect(() => { refuseOnTestnet({ datagrams: true }) }).toThrow(/--datagrams is not available on codenet testnet: .*TCP/)
  })
})
