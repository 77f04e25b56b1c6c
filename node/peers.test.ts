/**
 * Real peer processes on 127.0.0.1: P = 5 `codenet peer` processes find each other (bootstrap,
 * mDNS off), agree on the job and train the synthetic set to a loss target, with identical
 * decoded weights on every peer — and the same weights and summary as `simulate` with the same
 * options: the transport (libp2p streams here, the in-memory exchange there) does not change a
 * run.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { tempDir, writeJob, finish, jobFlags, PeerNet, checkCommon, P, weightsDistance } from './testing.ts'
import { parseJobSpec } from '../protocols/job.ts'
import { simulate } from '../training/simulate.ts'
import { exportWeights } from '../training/evaluate.ts'

const net = new PeerNet()
afterEach(() => { net.stop() })

describe(`${P} codenet peer processes on loopback`, () => {
  it('train to the loss target with identical decoded weights on every peer', async () => {
    const dir = tempDir('codenet-peers-')
    const job = writeJob(dir, jobFlags(60))
    const { peers } = await net.start(dir, job)
    const results = await finish(peers)
    checkCommon(results, 60)
    for (const r of results) {
      expect(r.summary.faults).toMatchObject({ detected: 0, uncorrectable: 0 })
      expect(r.summary.rollbacks).toBe(0)
      expect(r.summary.bytesSent).toBeGreaterThan(0)
    }
    // The same job in simulate: the same model (within float64 rounding of independent decodes)
    // and the same summary figures that do not depend on timing.
    const sim = await simulate({ config: parseJobSpec(readFileSync(job, 'utf8')).config })
    expect(weightsDistance(results[0].weights, exportWeights(sim.model))).toBeLessThan(1e-9)
    const s = sim.summary
    for (const r of results) {
      expect(r.summary).toMatchObject({ steps: s.steps, peers: s.peers, code: s.code, rollbacks: s.rollbacks, repairs: s.repairs })
      expect(Math.abs(r.summary.trainLoss - s.trainLoss)).toBeLessThan(1e-9)
      expect(Math.abs(r.summary.testAccuracy - s.testAccuracy)).toBeLessThan(1e-12)
    }
  }, 120_000)

  it('at a soft-error rate that rolls back every other step, finish with the clean model, as simulate does', async () => {
    // 3 % at every site: simulate rolls back 16 times in these 30 steps. Peers that speculate
    // on the next step while a vote is pending must not take that for the network moving on.
    const dir = tempDir('codenet-peers-errors-')
    const job = writeJob(dir, [...jobFlags(30), '--model', '256-128-64-4', '--batch', '64', '--error-rate', '0.03'])
    const { peers } = await net.start(dir, job)
    const results = await finish(peers)
    const sim = await simulate({ config: parseJobSpec(readFileSync(job, 'utf8')).config })
    expect(sim.summary.rollbacks).toBeGreaterThan(5)
    for (const r of results) {
      expect(r.summary.steps).toBe(30)
      expect(r.summary.rollbacks).toBeGreaterThan(0)
      // Every accepted step is the clean step: the same model as simulate's whatever the retries.
      expect(weightsDistance(r.weights, exportWeights(sim.model))).toBeLessThan(1e-9)
    }
  }, 180_000)
})
