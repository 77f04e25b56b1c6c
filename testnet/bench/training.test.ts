import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { trainingConfigFromFlags } from '../../training/config.ts'
import { initModel } from '../../training/model.ts'
import { schemeForConfig } from '../../training/strategy.ts'
import { runCli } from '../testing.ts'
import { formatTrainingTable, gemmSharePerPeer, maxWeightDistance, runTrainingBench, WEIGHT_TOLERANCE, type TrainingBenchResult } from './training.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-training-test-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** A tiny job: a few steps of a small synthetic model (the structure, not the figures). */
const TINY = { model: '32-16-10', steps: '6', batch: '8' }

function capture (): { out: PassThrough, text: () => string } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (chunk: Buffer) => { text += chunk.toString() })
  return { out, text: () => text }
}

describe('codenet bench training', () => {
  it('runs uncoded, codenet and replication alternately on a tiny job and writes the table and the JSON', async () => {
    const { out, text } = capture()
    const file = join(dir, 'training.json')
    const result = await runTrainingBench({ out, json: file, quick: true, repeats: 2, flags: TINY })
    const json = JSON.parse(readFileSync(file, 'utf8')) as TrainingBenchResult
    expect(json).toEqual(JSON.parse(JSON.stringify(result)))
    expect(json.benchmark).toBe('training')
    expect(json.flags).toMatchObject({ dataset: 'synthetic', 'error-rate': '0', ...TINY })
    expect(json.peers).toBe(6)
    expect(json.model).toEqual([32, 16, 10])
    expect(json.repeats).toBe(2)
    expect(json.order).toEqual(['uncoded', 'codenet', 'replication', 'truth'])
    expect(json.cpus).toBeGreaterThan(0)
    expect(json.groundTruth.runs).toHaveLength(2)
    expect(json.groundTruth.cpuPerStepMs).toBeGreaterThan(0)
    expect(json.rows.map(r => r.strategy)).toEqual(['uncoded', 'codenet', 'replication'])
    for (const r of json.rows) {
      expect(r.runs).toHaveLength(2)
      // 6 steps, timed after the first.
      for (const run of r.runs) expect(run.steps).toBe(5)
      expect(r.attemptedSteps).toBe(6)
      for (const x of [r.cpuPerStepMs, r.perPeerCpuMs, r.ratio.allPeers, r.ratio.perPeer, r.predicted.allPeers, r.predicted.perPeer, r.perPeerOverAlone, r.gemmSharePerPeer]) {
        expect(Number.isFinite(x)).toBe(true)
        expect(x).toBeGreaterThan(0)
      }
      expect(r.perPeerCpuMs).toBeCloseTo(r.cpuPerStepMs / 6, 9)
      expect(r.rollbacks).toBe(0)
      expect(r.silent).toBe(0)
      expect(r.maxWeightDistance.truth).toBeLessThan(1e-9)
      if (r.strategy === 'uncoded') {
        expect(r.ratio.allPeers).toBe(1)
        expect(r.ratio.perPeer).toBeCloseTo(1 / 6, 12)
        expect(r.predicted.allPeers).toBe(1)
        expect(r.maxWeightDistance.uncoded).toBeNull()
      } else {
        expect(r.maxWeightDistance.uncoded).toBeLessThan(1e-9)
        // The default code for 6 peers and replication r = 3 both hold half of every layer (32-16-10 divides evenly).
        expect(r.gemmSharePerPeer).toBeCloseTo(1 / (r.m * r.n), 12)
        expect(r.predicted.perPeer).toBeCloseTo(r.gemmSharePerPeer / (6 * json.rows[0].gemmSharePerPeer), 12)
      }
    }
    // The same job: the same loss and accuracy whatever the strategy.
    for (const r of json.rows) expect(r.trainLoss).toBeCloseTo(json.rows[0].trainLoss, 9)
    expect(new Set(json.rows.map(r => r.testAccuracy)).size).toBe(1)
    expect(json.weightCheck).toEqual({ tolerance: WEIGHT_TOLERANCE, against: 'uncoded', pass: true, failures: [] })
    expect(json.pass).toBe(true)
    expect(text()).toContain(formatTrainingTable(json))
    expect(text()).toMatch(/weights: codenet and replication within 1e-6 of uncoded's model: PASS/)
  }, 60_000)

  it('fails the weight check when a decoded model is further than the tolerance', async () => {
    const { out, text } = capture()
    const result = await runTrainingBench({ out, quick: true, repeats: 1, strategies: ['uncoded', 'codenet'], flags: TINY, tolerance: -1 })
    expect(result.rows.map(r => r.strategy)).toEqual(['uncoded', 'codenet'])
    expect(result.pass).toBe(false)
    expect(result.weightCheck.failures).toHaveLength(1)
    expect(result.weightCheck.failures[0]).toMatch(/^codenet's decoded model is .* from uncoded's .*: the coded training is wrong$/)
    expect(text()).toMatch(/weights: FAIL/)
  }, 60_000)

  it('runs from the command line and refuses bad options with one line, no stack', async () => {
    const file = join(dir, 'cli.json')
    const ok = await runCli(['bench', 'training', '--quick', '--repeats', '1', '--model', '32-16-10', '--steps', '4', '--batch', '8', '--strategy', 'codenet,uncoded', '--json', file])
    expect(ok.err).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.out).toMatch(/^codenet\s+polydot m=2 n=1/m)
    expect((JSON.parse(readFileSync(file, 'utf8')) as TrainingBenchResult).rows.map(r => r.strategy)).toEqual(['uncoded', 'codenet'])
    for (const [argv, msg] of [
      [['training', '--only', 'raw'], /--only does not apply to `bench training`/],
      [['training', '--svg', 'x.svg'], /--svg does not apply to `bench training`/],
      [['training', '--peers', '4,6'], /--peers must be an integer/],
      [['training', '--peers', '1'], /--peers must be an integer/],
      [['training', '--repeats', '0'], /--repeats must be an integer/],
      [['training', '--strategy', 'codenet'], /uncoded \(the baseline\)/],
      [['training', '--strategy', 'codenet,bogus,uncoded'], /--strategy must be/],
      [['training', '--steps', 'x'], /--steps must be a whole number/],
      [['training', '--batch', '0'], /--batch/],
      [['training', '--peers', '4'], /--replicas R, or leave replication out/],
      [['gemm', '--repeats', '3'], /--repeats applies to `bench training` only/],
      [['step', '--repeats', '3'], /--repeats does not apply/]
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(['bench', ...argv])
      expect(r.code, argv.join(' ')).toBe(2)
      expect(r.err.split('\n')[0]).toMatch(msg)
      expect(r.err).not.toMatch(/\n\s+at /)
      expect(r.out).toBe('')
    }
  }, 60_000)
})

describe('the figures bench training predicts and checks with', () => {
  it('gives a peer its GEMM share from the scheme, padding included', () => {
    const share = (flags: Record<string, string>): number => {
      const c = trainingConfigFromFlags({ dataset: 'synthetic', model: '32-16-10', steps: '1', ...flags })
      return gemmSharePerPeer(c, schemeForConfig(c))
    }
    expect(share({ peers: '6', strategy: 'codenet' })).toBeCloseTo(1 / 2, 12)
    expect(share({ peers: '6', strategy: 'replication' })).toBeCloseTo(1 / 2, 12)
    expect(share({ peers: '4', strategy: 'replication', replicas: '2' })).toBeCloseTo(1 / 2, 12)
    expect(share({ peers: '8', strategy: 'codenet', code: 'polydot:m=2,n=2' })).toBeCloseTo(1 / 4, 12)
    // Uncoded P = 6 pads 16 and 10 rows to 18 and 12: 3 and 2 rows a peer. Forward and update on
    // the first layer, forward, backward and update on the second.
    expect(share({ peers: '6', strategy: 'uncoded' })).toBeCloseTo((2 * 3 * 32 + 3 * 2 * 16) / (2 * 16 * 32 + 3 * 10 * 16), 12)
  })

  it('measures the largest weight or bias difference, a NaN model as infinitely far', () => {
    const a = initModel([4, 3, 2], 'relu', 1)
    const b = initModel([4, 3, 2], 'relu', 1)
    expect(maxWeightDistance(a, b)).toBe(0)
    b.layers[1].b[0] += 0.25
    b.layers[0].w.data[5] -= 0.5
    expect(maxWeightDistance(a, b)).toBe(0.5)
    b.layers[1].w.data[0] = NaN
    expect(maxWeightDistance(a, b)).toBe(Infinity)
  })
})
