/**
 * Real peer processes on 127.0.0.1: P = 5 `codenet peer` processes find each other (bootstrap,
 * mDNS off), agree on the job and train the synthetic set to a loss target, with identical
 * decoded weights on every peer.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { tempDir, writeJob, startPeer, waitFor, weightsDistance, finish, jobFlags, PeerNet, P, LOSS_TARGET } from './testing.ts'

const net = new PeerNet()
afterEach(() => { net.stop() })

function checkCommon (results: Array<{ summary: any, weights: any }>, steps: number): void {
  for (const r of results) {
    expect(r.summary.steps).toBe(steps)
    expect(r.summary.peers).toBe(P)
    expect(r.summary.trainLoss).toBeLessThan(LOSS_TARGET)
    expect(r.summary.testAccuracy).toBeGreaterThan(0.6)
    expect(r.summary.code).toMatchObject({ scheme: 'polydot', m: 2, n: 1 })
  }
  // Every peer decoded the same model (up to float64 rounding of independent decodes).
  for (const r of results.slice(1)) expect(weightsDistance(results[0].weights, r.weights)).toBeLessThan(1e-9)
  expect(new Set(results.map(r => r.summary.self)).size).toBe(P)
}

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
  }, 120_000)
})
