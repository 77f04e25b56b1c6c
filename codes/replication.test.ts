import { describe, expect, it } from 'vitest'
import { gemm } from './gemm/index.ts'
import { type Matrix, clone, relativeError, transpose } from './matrix.ts'
import { randomMatrix } from './testing.ts'
import { CodeConfigError, UncorrectableError, createScheme } from './index.ts'
import type { CodeScheme, Phase } from './scheme.ts'

function run (s: CodeScheme, phase: Phase, seed = 1): { ys: Matrix[], truth: Matrix, W: Matrix, shards: Matrix[], X: Matrix, D: Matrix } {
  const W = randomMatrix(12, 5, seed); const X = randomMatrix(5, 3, seed + 1); const D = randomMatrix(12, 3, seed + 2)
  const shards = Array.from({ length: s.peers }, (_, p) => s.encodeShard(W, p))
  const ys = shards.map((sh, p) => s.compute(phase, sh, phase === 'forward' ? s.encodeForwardInput(X, p) : s.encodeBackwardInput(D, p)))
  return { ys, truth: phase === 'forward' ? gemm(W, X) : gemm(transpose(W), D), W, shards, X, D }
}
const wrong = (y: Matrix): Matrix => ({ ...y, data: y.data.map(v => v + 0.5) })

describe('replication', () => {
  const s = createScheme({ kind: 'replication', peers: 6, replicas: 3 })
  it('decodes forward and backward, voting out a wrong replica', () => {
    for (const phase of ['forward', 'backward'] as const) {
      const r = run(s, phase)
      const map = new Map(r.ys.map((y, p) => [p, y]))
      map.set(4, wrong(r.ys[4]))
      for (const mode of ['adversarial', 'probabilistic'] as const) {
        const d = s.decode(phase, map, { mode })
        expect(d.ok && relativeError(d.value, r.truth)).toBeLessThan(1e-12)
        expect(d.ok && d.faulty).toEqual([4])
      }
    }
  })
  it('refuses when there is no majority (adversarial) or two disagreeing pairs', () => {
    const r = run(s, 'forward')
    const map = new Map(r.ys.map((y, p) => [p, y]))
    map.set(1, wrong(r.ys[1])); map.set(3, { ...r.ys[3], data: r.ys[3].data.map(v => v * 3) })
    expect(s.decode('forward', map, { mode: 'adversarial' }).ok).toBe(false)
    const two = new Map(r.ys.map((y, p) => [p, y]))
    two.set(1, wrong(r.ys[1])); two.set(3, wrong(r.ys[3]))
    // Block 1 = peers 1, 3, 5: the two identical wrong replicas form a majority — replication
    // cannot see through colluding replicas; it returns the majority value.
    const d = s.decode('forward', two, { mode: 'adversarial' })
    expect(d.ok && d.faulty).toEqual([5])
    const missing = new Map([...map].filter(([p]) => p % 2 !== 1))
    expect(s.decode('forward', missing).ok).toBe(false)
  })
  it('has thresholds, capability, update, repair, check and weight decoding', () => {
    expect(s.recoveryThreshold).toEqual({ forward: 2, backward: 2 })
    expect(s.correctable('forward', 6)).toEqual({ adversarial: 1, probabilistic: 1 })
    const r = run(s, 'forward')
    const W2 = clone(r.W); gemm(r.D, r.X, W2, { transB: true, alpha: -0.1, beta: 1 })
    for (let p = 0; p < 6; p++) {
      const sh = clone(r.shards[p]); s.applyUpdate(sh, r.D, r.X, 0.1, p)
      expect(relativeError(sh, s.encodeShard(W2, p))).toBeLessThan(1e-14)
    }
    const shards = new Map(r.shards.map((x, p) => [p, x]))
    expect(relativeError(s.repairShard(shards, 2), r.shards[2])).toBe(0)
    expect(relativeError(s.decodeWeights(shards), r.W)).toBe(0)
    shards.set(0, wrong(r.shards[0]))
    expect(s.checkShards(shards)).toEqual({ consistent: false, faulty: [0], decidable: true })
    expect(relativeError(s.repairShard(shards, 0), r.shards[0])).toBe(0)
  })
  it('rejects bad configurations', () => {
    expect(() => createScheme({ kind: 'replication', peers: 7, replicas: 3 })).toThrow(CodeConfigError)
  })
})

describe('uncoded', () => {
  const s = createScheme({ kind: 'uncoded', peers: 4 })
  it('decodes, accepts a wrong result silently, and fails on a missing one', () => {
    const r = run(s, 'backward')
    const map = new Map(r.ys.map((y, p) => [p, y]))
    const d = s.decode('backward', map)
    expect(d.ok && relativeError(d.value, r.truth)).toBeLessThan(1e-12)
    map.set(2, wrong(r.ys[2]))
    const bad = s.decode('backward', map)
    expect(bad.ok && relativeError(bad.value, r.truth)).toBeGreaterThan(1e-3)
    map.delete(2)
    expect(s.decode('backward', map).ok).toBe(false)
    expect(() => s.repairShard(new Map(r.shards.map((x, p) => [p, x])), 1)).toThrow(UncorrectableError)
    expect(s.recoveryThreshold).toEqual({ forward: 4, backward: 4 })
  })
})
