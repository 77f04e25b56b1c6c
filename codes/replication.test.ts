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
  it('returns the same value and repairs from the same copy whatever order the copies arrived in', () => {
    // Copies within the tolerance of each other are equal to the vote, not to the bit: the
    // value taken must not depend on arrival order, or peers' replicas part below the tolerance.
    const r = run(s, 'forward')
    const nudged = (y: Matrix): Matrix => ({ ...y, data: y.data.map(v => v * (1 + 1e-12)) })
    const ys = r.ys.map((y, p) => p === 2 ? nudged(y) : y)
    const inOrder = (order: number[]): Map<number, Matrix> => new Map(order.map(p => [p, ys[p]]))
    const a = s.decode('forward', inOrder([0, 1, 2, 3, 4, 5]))
    const b = s.decode('forward', inOrder([2, 5, 4, 3, 1, 0]))
    expect(a.ok && b.ok).toBe(true)
    if (a.ok && b.ok) expect(Array.from(b.value.data)).toEqual(Array.from(a.value.data))
    const shards = r.shards.map((sh, p) => p === 2 ? nudged(sh) : sh)
    const from = (order: number[]): Map<number, Matrix> => new Map(order.map(p => [p, shards[p]]))
    expect(Array.from(s.repairShard(from([4, 2]), 0).data)).toEqual(Array.from(s.repairShard(from([2, 4]), 0).data))
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
    // One replica checks nothing: that is the uncoded baseline, not replication.
    expect(() => createScheme({ kind: 'replication', peers: 4, replicas: 1 })).toThrow(/at least 2 replicas/)
  })

  it('never accepts a lone copy: decode, repair, weights and audit need two agreeing copies', () => {
    for (const phase of ['forward', 'backward'] as const) {
      const r = run(s, phase, 3)
      // Block 0 = peers 0, 2, 4; block 1 = peers 1, 3, 5. One copy of block 1 only, and it is wrong.
      const lone = new Map([[0, r.ys[0]], [2, r.ys[2]], [3, wrong(r.ys[3])]])
      for (const mode of ['adversarial', 'probabilistic'] as const) {
        const d = s.decode(phase, lone, { mode })
        expect(d.ok).toBe(false)
        if (!d.ok) expect(d.reason).toMatch(/block 1: only one replica: a lone copy is unchecked/)
        // Two agreeing copies of each block: accepted.
        const two = new Map([[0, r.ys[0]], [2, r.ys[2]], [3, r.ys[3]], [5, r.ys[5]]])
        const ok = s.decode(phase, two, { mode })
        expect(ok.ok && relativeError(ok.value, r.truth)).toBeLessThan(1e-12)
        // Two copies that disagree: refused (which one is right cannot be told).
        two.set(5, wrong(r.ys[5]))
        expect(s.decode(phase, two, { mode }).ok).toBe(false)
      }
    }
    const r = run(s, 'forward', 4)
    // Repair of peer 1 from one other copy (peer 3): unchecked, refused; from two agreeing: rebuilt.
    expect(() => s.repairShard(new Map([[3, r.shards[3]], [0, r.shards[0]]]), 1)).toThrow(UncorrectableError)
    expect(relativeError(s.repairShard(new Map([[3, r.shards[3]], [5, r.shards[5]]]), 1), r.shards[1])).toBe(0)
    expect(() => s.repairShard(new Map([[3, r.shards[3]], [5, wrong(r.shards[5])]]), 1)).toThrow(UncorrectableError)
    // Weights from one copy of a block: refused.
    expect(() => s.decodeWeights(new Map([[0, r.shards[0]], [2, r.shards[2]], [1, r.shards[1]]]))).toThrow(/only one replica/)
    // Audit: a block with one copy is unchecked — never "consistent".
    expect(s.checkShards(new Map([[0, r.shards[0]], [2, r.shards[2]], [1, r.shards[1]]]))).toEqual({ consistent: false, faulty: [], decidable: false })
    expect(s.checkShards(new Map([[0, r.shards[0]], [2, r.shards[2]], [1, r.shards[1]], [3, r.shards[3]]]))).toEqual({ consistent: true, faulty: [], decidable: true })
  })
})

describe('uncoded', () => {
  const s = createScheme({ kind: 'uncoded', peers: 4 })
  // The unprotected baseline: no redundancy, so every result is accepted unchecked.
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
    // Nothing to check: undecidable, but not called inconsistent (the baseline keeps running).
    expect(s.checkShards(new Map(r.shards.map((x, p) => [p, x])))).toEqual({ consistent: true, faulty: [], decidable: false })
    expect(relativeError(s.decodeWeights(new Map(r.shards.map((x, p) => [p, x]))), r.W)).toBe(0)
  })
})
