/**
 * Real peer processes on 127.0.0.1: P = 5 `codenet peer` processes find each other (bootstrap,
 * mDNS off), agree on the job and train the synthetic set to a loss target, with identical
 * decoded weights on every peer.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { tempDir, writeJob, finish, jobFlags, PeerNet, checkCommon, P } from './testing.ts'

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
  }, 120_000)
})
