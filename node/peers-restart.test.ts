/**
 * Churn: one of P = 5 peer processes is killed (SIGKILL) mid-training and restarted with the
 * same data dir. It keeps its peer id, restores its last checkpoint, rejoins the step the
 * others are at, gets its stale shards repaired, and every peer finishes with the same model.
 */
import { describe, it, expect, afterEach } from 'vitest'
import { tempDir, writeJob, startPeer, waitFor, finish, jobFlags, PeerNet, checkCommon, weightsDistance } from './testing.ts'
import { readdirSync, readFileSync } from 'node:fs'
import { parseJobSpec } from '../protocols/job.ts'
import { simulate } from '../training/simulate.ts'
import { exportWeights } from '../training/evaluate.ts'
import { join } from 'node:path'

const net = new PeerNet()
afterEach(() => { net.stop() })

describe('a crashed peer', () => {
  it('restarts from its data dir, rejoins, is repaired, and training finishes', { timeout: 240_000, retry: 1 }, async () => {
    // Long enough that the others still train when the victim is back, on a loaded machine too.
    const STEPS = 200
    const dir = tempDir('codenet-restart-')
    const job = writeJob(dir, jobFlags(STEPS))
    const { peers, boot } = await net.start(dir, job)
    const victim = peers[3]
    const idBefore = (await waitFor(victim, /peer (12D3\S+), job/))[1]
    await waitFor(victim, /step 20\/200/)
    // The checkpoint of step 20 is written once the quorum confirmed step 19 (one step later).
    const checkpointed = (): number => Math.max(-1, ...readdirSync(join(dir, 'p3')).map(f => /^checkpoint-(\d+)\.ck$/.exec(f)).map(m => m === null ? -1 : Number(m[1])))
    for (const end = Date.now() + 60_000; checkpointed() < 20 && Date.now() < end;) await new Promise(resolve => setTimeout(resolve, 20))
    victim.child.kill('SIGKILL')
    await victim.exit
    expect(readdirSync(join(dir, 'p3')).some(f => /^checkpoint-\d+\.ck$/.test(f))).toBe(true)
    const again = await startPeer('p3', dir, job, ['--bootstrap', boot])
    net.running.push(again)
    peers[3] = again
    expect((await waitFor(again, /peer (12D3\S+), job/))[1]).toBe(idBefore)
    await waitFor(again, /restored checkpoint of step \d+/)
    await waitFor(again, /rejoining at step \d+/)
    const results = await finish(peers)
    checkCommon(results, STEPS)
    expect(results[3].summary.restoredFrom).toBeGreaterThanOrEqual(20)
    expect(results[3].summary.rejoins).toBeGreaterThanOrEqual(1)
    // Its stale shards were detected and repaired by the others (a quorum took part in the
    // audit that did it: a peer busy resyncing at that moment, on a loaded machine, may miss
    // it). On a loaded machine the rejoin may also cost refused rounds and rollbacks (a vote
    // that came late splits the peers' decisions for a step or two): refused, never accepted —
    // the model every peer decoded is the one `simulate` trains from the same job, fault-free.
    expect(results.filter(r => r.summary.repairs >= 1).length).toBeGreaterThan(results.length / 2)
    const sim = await simulate({ config: parseJobSpec(readFileSync(job, 'utf8')).config })
    for (const r of results) expect(weightsDistance(r.weights, exportWeights(sim.model))).toBeLessThan(1e-9)
    // One retry, kept as a margin for a loaded CI machine: a restart is timing-dependent
    // (a late self-flag makes some peers audit without the others — now inconclusive, so the
    // peers go on together; docs/design.md § Audit and repair). Safety is checked above on
    // every attempt; a regression still fails twice.
  })
})
