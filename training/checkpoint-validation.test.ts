/**
 * A checkpoint rewritten with valid checksums is still range- and finiteness-checked: a checksum
 * only proves the file is the one written, not that what was written is sane.
 */
import { describe, expect, it } from 'vitest'
import { CheckpointError, deserializeCheckpoint, serializeCheckpoint, type Checkpoint } from './checkpoint.ts'

const sample = (patch: Partial<Checkpoint> = {}): Checkpoint => ({
  peer: 1,
  step: 20,
  job: 'abc123',
  layers: [
    { shard: { rows: 2, cols: 2, data: Float64Array.of(1, 2, 3, 4) }, velocity: { rows: 2, cols: 2, data: Float64Array.of(0, 0, 0, 0) }, bias: Float64Array.of(5, 6), biasVelocity: Float64Array.of(0, 0) }
  ],
  ...patch
})

const layerWith = (where: 'shard' | 'velocity' | 'bias' | 'biasVelocity', v: number): Checkpoint => {
  const c = sample()
  const l = c.layers[0]
  if (where === 'shard' || where === 'velocity') l[where].data[1] = v
  else l[where][0] = v
  return c
}

describe('restored checkpoints are range- and finiteness-checked', () => {
  it.each([
    ['step 2^40', sample({ step: 2 ** 40 }), /step 1099511627776 is outside \[0, 1000000000\]/],
    ['step −1000', sample({ step: -1000 }), /step -1000 is outside/],
    ['fractional step', sample({ step: 2.5 }), /step 2.5 is outside/],
    ['negative peer', sample({ peer: -1 }), /peer -1 is outside/],
    ['peer beyond the peer cap', sample({ peer: 64 }), /peer 64 is outside \[0, 63\]/],
    ['no layers', sample({ layers: [] }), /0 layers/],
    ['NaN in a shard', layerWith('shard', NaN), /layer 0 shard holds a non-finite value \(NaN\)/],
    ['Infinity in a velocity', layerWith('velocity', Infinity), /layer 0 velocity holds a non-finite value/],
    ['NaN in a bias', layerWith('bias', NaN), /layer 0 bias holds a non-finite value/],
    ['−Infinity in a bias velocity', layerWith('biasVelocity', -Infinity), /layer 0 bias velocity holds a non-finite value/]
  ])('refuses %s', (_what, c, re) => {
    const bytes = serializeCheckpoint(c)
    expect(() => deserializeCheckpoint(bytes)).toThrow(CheckpointError)
    expect(() => deserializeCheckpoint(bytes)).toThrow(re)
  })

  it('checks the step against what the reader expects', () => {
    const bytes = serializeCheckpoint(sample({ step: 20 }))
    expect(deserializeCheckpoint(bytes, { step: 20, maxStep: 20 }).step).toBe(20)
    expect(() => deserializeCheckpoint(bytes, { step: 30 })).toThrow(/holds step 20, not the step 30 it is filed under/)
    expect(() => deserializeCheckpoint(bytes, { maxStep: 19 })).toThrow(/step 20 is outside \[0, 19\]/)
  })

  it('accepts the edges: step 0, large finite values', () => {
    const c = sample({ step: 0 })
    c.layers[0].shard.data[0] = 1e300; c.layers[0].velocity.data[0] = -1e-300
    expect(deserializeCheckpoint(serializeCheckpoint(c))).toEqual(c)
  })
})
