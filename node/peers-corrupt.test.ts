/**
 * A lying peer: one of P = 5 peer processes corrupts its partial products (gaussian soft
 * errors at 'matmul'). The others detect and correct its results, agree on it, repair it, and
 * the control protocol's status names it; every peer ends with the same model.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { tempDir, writeJob, waitFor, finish, jobFlags, PeerNet, checkCommon } from './testing.ts'
import { queryStatus } from './peer.ts'
import { generateControlKey, saveControlKey, controlLibp2pKey } from './control-auth.ts'
import { join } from 'node:path'

const net = new PeerNet()
afterEach(() => { net.stop() })

describe('a peer sending corrupted results', () => {
  it('is detected, corrected and repaired; the status names it', async () => {
    const STEPS = 60
    const dir = tempDir('codenet-corrupt-')
    const job = writeJob(dir, jobFlags(STEPS))
    const bad = 2
    // The status is shown in full to the controller only (the holder of the control key).
    const control = generateControlKey()
    saveControlKey(control, join(dir, 'control.key.pem'), join(dir, 'control.pub.pem'))
    const ctl = ['--control-key', join(dir, 'control.pub.pem')]
    const { peers } = await net.start(dir, job, i => i === bad ? ['--fault-rate', '0.1', '--fault-site', 'matmul', ...ctl] : ctl)
    const addr = (await waitFor(peers[0], /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/))[1]
    const badIndex = Number((await waitFor(peers[bad], /this peer is index (\d+)/))[1])
    await waitFor(peers[0], new RegExp(`flagged \\[[0-9,]*${badIndex}`))
    // The printed flags are the agreed union of every peer's findings; peer 0's own detection
    // counter may lag behind it by a round (its decode may not have needed the bad result), so
    // poll its status until its own decoders have caught the liar too.
    let status: any
    for (let i = 0; i < 60; i++) {
      status = await queryStatus(addr, { privateKey: controlLibp2pKey(control.privateKey) })
      if (status.faults.detected > 0 && status.peers[badIndex].flagged > 0) break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    expect(status.peers[badIndex].flagged).toBeGreaterThan(0)
    expect(status.faults.detected).toBeGreaterThan(0)
    expect(status.step).toBeGreaterThan(0)
    const results = await finish(peers)
    checkCommon(results, STEPS)
    expect(results[bad].summary.faults.injected).toBeGreaterThan(0)
    for (const [i, r] of results.entries()) {
      // A straggler cut off by the deadline plus a wrong result can leave a round uncorrectable:
      // then every peer rolled back to the last verified checkpoint instead of accepting it.
      if (r.summary.faults.uncorrectable > 0) expect(r.summary.rollbacks).toBeGreaterThan(0)
      if (i === bad) continue
      expect(r.summary.faults.detected).toBeGreaterThan(0)
      expect(r.summary.faults.corrected).toBeGreaterThan(0)
    }
  }, 240_000)
})
