import { describe, expect, it } from 'vitest'
import { createScheme } from '../../codes/index.ts'
import { bestInterval, calibrate, cleanAudits, expectedDistance, expectedStepSeconds, faultRates, predictSeconds } from './paper-model.ts'
import { ACCURACY_SLACK, secondsPerStep, storagePerPeer, strategyFacts, timeToAccuracy, type PaperBenchResult, type PaperRun } from './paper.ts'
import { paperSvg } from './paper-plot.ts'
import { liarsOf, runToleranceTable } from './tolerance.ts'
import { DEFAULT_CONFIG } from '../../training/config.ts'
import type { TestnetTrace } from '../snapshot.ts'
import { runCli } from '../testing.ts'

describe('the expected-time model', () => {
  const costs = { startS: 10, stepS: 0.1, auditS: 0.04 }

  it('recovers step and audit costs from two clean runs that differ only in the interval', () => {
    const steps = 1000
    const run = (c: number): number => costs.startS + steps * costs.stepS + cleanAudits(steps, c) * costs.auditS
    const k = calibrate({ wallS: run(50), steps, audits: cleanAudits(steps, 50), secondsPerStep: costs.stepS + costs.auditS / 50, interval: 50 }, { wallS: run(5), audits: cleanAudits(steps, 5) })
    expect(k.auditS).toBeCloseTo(costs.auditS, 9)
    expect(k.stepS).toBeCloseTo(costs.stepS, 9)
    expect(k.startS).toBeCloseTo(costs.startS, 6)
    expect(predictSeconds(k, { attempted: 1100, audits: 300 })).toBeCloseTo(10 + 110 + 12, 6)
  })

  it('steps back to the last verified state: (c − 1)/2 without flagged steps, fewer with them', () => {
    expect(expectedDistance(50, 0)).toBeCloseTo(24.5, 9)
    expect(expectedDistance(1, 0)).toBe(0)
    expect(expectedDistance(50, 0.5)).toBeLessThan(1)
  })

  it('without flagged steps the best interval is Young\'s √(2·t_a(1 − p)/(p·t_s))', () => {
    const p = 0.001
    const best = bestInterval(costs, { p, phi: 0 })
    expect(Math.abs(best.c - Math.sqrt(2 * costs.auditS * (1 - p) / (p * costs.stepS)))).toBeLessThan(1.5)
    expect(best.stepSeconds).toBeLessThanOrEqual(expectedStepSeconds(costs, { p, phi: 0 }, 50))
    // With audits after most steps anyway the interval barely matters.
    const busy = { p: 0.03, phi: 0.8 }
    expect(Math.abs(expectedStepSeconds(costs, busy, 50) - expectedStepSeconds(costs, busy, 5))).toBeLessThan(0.01)
  })

  it('reads p and φ from counts', () => {
    expect(faultRates({ committed: 100, rollbacks: 25, audits: 52, interval: 50 })).toEqual({ p: 0.2, phi: 0.5 })
    expect(faultRates({ committed: 0, rollbacks: 0, audits: 0, interval: 50 })).toEqual({ p: 0, phi: 0 })
  })
})

describe('bench paper pieces', () => {
  const trace: TestnetTrace = {
    steps: [{ t: 1000, step: 0 }, { t: 2000, step: 10 }, { t: 3000, step: 20 }, { t: 4000, step: 30 }, { t: 5000, step: 40 }, { t: 6000, step: 51 }, { t: 7000, step: 60 }],
    accuracy: [{ t: 5500, step: 19, testAccuracy: 0.8 }, { t: 6500, step: 49, testAccuracy: 0.95 }],
    rollbacks: [{ t: 4200, step: 31, count: 1 }],
    faults: { injected: [{ t: 3100, step: 20, count: 3 }, { t: 4100, step: 30, count: 1 }], detected: [{ t: 4100, step: 30, count: 2 }] }
  }

  it('times the first checkpoint within the slack of the clean accuracy, at the moment the network passed its step', () => {
    expect(timeToAccuracy(trace, 0.951, 8, 0.95 + ACCURACY_SLACK / 2)).toBe(6)
    expect(timeToAccuracy(trace, 0.951, 8, 0.96)).toBeNull()
    // No checkpoint reached it, the final accuracy did: the end of the run.
    expect(timeToAccuracy(trace, 0.9515, 8, 0.952)).toBe(8)
    expect(timeToAccuracy(null, null, 8, 0.5)).toBeNull()
  })

  it('measures seconds per step in the middle of a run', () => {
    // Steps 6 to 54: first polled at step 10 (2 s) and step 60 (7 s).
    expect(secondsPerStep(trace, 60)).toBeCloseTo(5 / 50, 9)
    expect(secondsPerStep({ ...trace, steps: [] }, 60)).toBeNull()
  })

  it('compares at equal storage: PolyDot m=2 n=1 and replication r = 3 hold half of each layer at P = 6', () => {
    expect(storagePerPeer(createScheme({ kind: 'polydot', peers: 6, m: 2, n: 1 }))).toBeCloseTo(0.5, 12)
    expect(storagePerPeer(createScheme({ kind: 'replication', peers: 6, replicas: 3 }))).toBeCloseTo(0.5, 12)
    expect(storagePerPeer(createScheme({ kind: 'uncoded', peers: 6 }))).toBeCloseTo(1 / 6, 12)
    const rep = strategyFacts({ ...DEFAULT_CONFIG, peers: 6, strategy: 'replication', replicas: 3 })
    expect(rep).toMatchObject({ code: 'replication r=3', redundancy: 3 })
    expect(rep.tolerates.adversarial).toBe(1)
  })

  it('plots every run of a kind with its rollbacks, and lists failed runs', () => {
    const run = (strategy: PaperRun['strategy'], rate: number, ok: boolean): PaperRun => ({
      strategy,
      kind: 'gaussian',
      rate,
      testnet: { ok, error: ok ? null : 'stalled', wallSeconds: 8, steps: 60, testAccuracy: ok ? 0.95 : null, rollbacks: 1, repairs: 2, faults: null, bytesPerStep: 1, timeToCleanS: 6, trace: ok ? trace : null },
      simulate: null,
      model: null
    })
    const res = { peers: 6, cleanAccuracy: { codenet: 0.95 }, runs: [run('codenet', 0, true), run('replication', 0.01, true), run('uncoded', 0.01, false)] } as unknown as PaperBenchResult
    const svg = paperSvg(res, 'gaussian')
    expect(svg.match(/<polyline/g)?.length).toBe(2)
    expect(svg).toContain('uncoded ε=1e-2: failed')
    expect(svg).toContain('clean 95.00 %')
    // A strip for each of the two runs with a trace: 2 injected, 1 detected, 1 rollback each.
    expect(svg.match(/stroke-opacity="0.35"/g)?.length).toBe(4)
    expect(svg.match(/stroke-opacity="0.6"/g)?.length).toBe(2)
    expect(svg.match(/<text x="\d+" y="\d+" fill="#0366d6">codenet ε=0<\/text>/g)?.length).toBe(1)
    expect(svg.match(/<text x="\d+" y="\d+" fill="#d73a49">replication ε=1e-2<\/text>/g)?.length).toBe(1)
    const full = [...svg.matchAll(/<line x1="([\d.]+)" x2="[\d.]+" y1="(\d+)" y2="(\d+)" stroke="#[0-9a-f]+"\/>/g)].filter(m => Number(m[3]) - Number(m[2]) === 9)
    expect(full.length).toBe(2)
    // A run stopped for making no progress says where it stuck.
    const stuck = run('uncoded', 0.01, false)
    stuck.testnet.noProgress = { step: 408, seconds: 180 }
    expect(paperSvg({ ...res, runs: [stuck] } as unknown as PaperBenchResult, 'gaussian')).toContain('uncoded ε=1e-2: stuck at step 408')
  })
})

describe('bench paper flags', () => {
  it('refuses bad options with a usage error, before running anything', async () => {
    for (const [argv, msg] of [
      [['paper', '--strategy', 'codenet,bogus'], /--strategy/],
      [['paper', '--strategy', 'codenet,codenet'], /--strategy/],
      [['paper', '--peers', '1'], /--peers/],
      [['paper', '--steps', '0'], /--steps/],
      [['paper', '--lr', '0.1'], /--lr/],
      [['paper', '--widths', '8'], /--widths/]
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(['bench', ...argv])
      expect(r.code).toBe(2)
      expect(r.err).toMatch(msg)
    }
  })
})

describe('error tolerance at equal storage', () => {
  it('places replication\'s liars in one block', () => {
    expect(liarsOf('replication', 6, 2)).toEqual([0, 2])
    expect(liarsOf('codenet', 6, 2)).toEqual([0, 1])
  })

  it('codenet corrects as many coherent liars as its bound and refuses one more; replication r = 3 is outvoted silently', async () => {
    const rows = await runToleranceTable({ peers: [6], modes: ['adversarial'], steps: 6 })
    const codenet = rows.find(r => r.strategy === 'codenet')
    const replication = rows.find(r => r.strategy === 'replication')
    expect(codenet).toMatchObject({ theory: 1, measured: 1, beyond: 'refused' })
    expect(replication).toMatchObject({ theory: 1, measured: 1, beyond: 'silent' })
  }, 60_000)
})
