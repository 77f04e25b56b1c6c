/**
 * A checkpoint rewritten with valid checksums but insane content (step 2^40, step −1000, NaN
 * weights, a step other than the one it is filed under) is refused with one line, and the peer
 * restores the newest checkpoint that passes: valid training state is never lost.
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCheckpointStore, StoreError, type CheckpointFile } from './store.ts'
import { serializeCheckpoint, type Checkpoint } from '../training/checkpoint.ts'

const trainerState = (step: number, weight = 1): Checkpoint => ({
  peer: 0,
  step,
  job: 'j',
  layers: [{ shard: { rows: 1, cols: 2, data: Float64Array.of(weight, 2) }, velocity: { rows: 1, cols: 2, data: Float64Array.of(0, 0) }, bias: Float64Array.of(0), biasVelocity: Float64Array.of(0) }]
})
const file = (step: number, state: Checkpoint = trainerState(step), metaStep: number = step): CheckpointFile =>
  ({ meta: { step: metaStep, job: 'j' }, blobs: new Map([['trainer', serializeCheckpoint(state)]]) })

describe('the checkpoint store refuses insane checkpoints and falls back', () => {
  it.each([
    ['step 2^40', file(30, trainerState(2 ** 40)), /step 1099511627776 is outside/],
    ['step −1000', file(30, trainerState(-1000)), /step -1000 is outside/],
    ['NaN weights', file(30, trainerState(30, NaN)), /non-finite value \(NaN\)/],
    ['a trainer step other than the file step', file(30, trainerState(25)), /holds step 25, not the step 30/],
    ['metadata of another step', file(30, trainerState(30), 31), /metadata says step 31, the file is step 30/]
  ])('%s: refused, and the previous checkpoint restored', async (_what, forged, re) => {
    const store = createCheckpointStore(mkdtempSync(join(tmpdir(), 'codenet-ckfb-')))
    await store.save(10, file(10))
    await store.save(20, file(20))
    await store.save(30, forged)
    const refused: Array<[string, StoreError]> = []
    const got = await store.loadLatest((f, err) => { refused.push([f, err]) })
    expect(got?.step).toBe(20)
    expect(refused).toHaveLength(1)
    expect(refused[0][0]).toMatch(/checkpoint-0000000030\.ck$/)
    expect(refused[0][1]).toBeInstanceOf(StoreError)
    expect(refused[0][1].message).toMatch(re)
    expect(refused[0][1].message).not.toMatch(/\n/)
  })

  it('with every checkpoint insane, nothing is restored (a fresh start), each refusal reported', async () => {
    const store = createCheckpointStore(mkdtempSync(join(tmpdir(), 'codenet-ckfb-')))
    await store.save(10, file(10, trainerState(10, Infinity)))
    await store.save(20, file(20, trainerState(-1)))
    const refused: string[] = []
    expect(await store.loadLatest(f => { refused.push(f) })).toBeNull()
    expect(refused).toHaveLength(2)
  })
})
