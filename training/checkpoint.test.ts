import { describe, expect, it } from 'vitest'
import { CheckpointError, deserializeCheckpoint, serializeCheckpoint, type Checkpoint } from './checkpoint.ts'

const sample = (): Checkpoint => ({
  peer: 2,
  step: 150,
  job: 'abc123',
  layers: [
    { shard: { rows: 2, cols: 3, data: Float64Array.of(1, 2, 3, 4, 5, 6) }, velocity: { rows: 2, cols: 3, data: Float64Array.of(0.1, 0, 0, 0, 0, -0.5) }, bias: Float64Array.of(7, 8, 9, 10), biasVelocity: Float64Array.of(0, 1, 0, 1) },
    { shard: { rows: 1, cols: 2, data: Float64Array.of(Math.PI, -Math.E) }, velocity: { rows: 1, cols: 2, data: Float64Array.of(1e-300, 1e300) }, bias: Float64Array.of(3), biasVelocity: Float64Array.of(-3) }
  ]
})

describe('checkpoint format', () => {
  it('round-trips bit for bit', () => {
    const c = sample()
    expect(deserializeCheckpoint(serializeCheckpoint(c))).toEqual(c)
  })

  it('refuses a checkpoint with any byte changed', () => {
    const bytes = serializeCheckpoint(sample())
    for (const at of [0, 13, Math.floor(bytes.length / 2), bytes.length - 40, bytes.length - 1]) {
      const bad = bytes.slice(); bad[at] ^= 0x10
      expect(() => deserializeCheckpoint(bad)).toThrow(CheckpointError)
    }
  })

  it('refuses truncated input', () => {
    const bytes = serializeCheckpoint(sample())
    expect(() => deserializeCheckpoint(bytes.subarray(0, 20))).toThrow(CheckpointError)
    expect(() => deserializeCheckpoint(bytes.subarray(0, bytes.length - 8))).toThrow(/checksum|truncated/)
  })
})
