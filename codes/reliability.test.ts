/**
 * No unchecked acceptance, and no acceptance that one hidden error (or a coalition within the
 * adversarial bound) could move by more than the silent tolerance: the reproductions of the
 * review findings, a property over every code the job validator accepts with P ≤ 16, and a
 * coordinated adversary (colluders adding one common polynomial of degree < Q, so their results
 * lie on another code word). Rates over many trials: codes/scripts/false-accept.ts.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { gemm } from './gemm/index.ts'
import { type Matrix, relativeError, transpose } from './matrix.ts'
import { chebValues } from './chebyshev.ts'
import { mulberry32 } from './random.ts'
import { acceptedCodes, cluster, collude, corrupt, leverageErrors, polydot, randomMatrix, sample } from './testing.ts'
import { ACCEPT_SHIFT, UncorrectableError, chooseCode, createShardProbe, sketchShard } from './index.ts'
import type { PolyDotScheme } from './polydot.ts'
import type { DecodeMode, Phase } from './scheme.ts'

/** training/simulate.ts SILENT_TOLERANCE: a decode further off than this counts as a silent error. */
const SILENT = 1e-6
const CODES = acceptedCodes(16)

interface Case { s: PolyDotScheme, ys: Matrix[], truth: Matrix, Q: number, W: Matrix, shards: Matrix[] }
function makeCase (P: number, m: number, n: number, phase: Phase, B: number, seed: number): Case {
  const s = polydot(P, m, n)
  const W = randomMatrix(3 * m, 3 * n, seed)
  const inp = randomMatrix(phase === 'forward' ? 3 * n : 3 * m, B, seed + 1)
  const shards = Array.from({ length: P }, (_, p) => s.encodeShard(W, p))
  const ys = shards.map((sh, p) => s.compute(phase, sh, phase === 'forward' ? s.encodeForwardInput(inp, p) : s.encodeBackwardInput(inp, p)))
  return { s, ys, truth: phase === 'forward' ? gemm(W, inp) : gemm(transpose(W), inp), Q: s.recoveryThreshold[phase], W, shards }
}
const pick = (ys: readonly Matrix[], peers: readonly number[]): Map<number, Matrix> => new Map(peers.map(p => [p, ys[p]]))
const scaled = (y: Matrix, f: number): Matrix => ({ ...y, data: y.data.map(v => v * f) })

describe('no unchecked acceptance (review reproductions)', () => {
  it('a decode from exactly Q results is refused, even when one of them is wrong (P = 6, m = 2, n = 1, forward)', () => {
    const c = makeCase(6, 2, 1, 'forward', 3, 1)
    expect(c.Q).toBe(2)
    // Before: ok with a 321 % error. Q results always fit some code word: nothing checks them.
    expect(c.s.decode('forward', new Map([[0, c.ys[0]], [3, scaled(c.ys[3], 2)]])))
      .toEqual({ ok: false, reason: 'too few results to check (2 of 3)', suspects: [] })
    expect(c.s.decode('forward', pick(c.ys, [0, 3]))).toEqual({ ok: false, reason: 'too few results to check (2 of 3)', suspects: [] })
    // Q + 1: the wrong one is detected (not locatable): refused with suspects; Q + 2: corrected.
    const three = new Map([[0, c.ys[0]], [3, scaled(c.ys[3], 2)], [5, c.ys[5]]])
    for (const mode of ['adversarial', 'probabilistic'] as const) {
      const d = c.s.decode('forward', three, { mode })
      expect(d.ok).toBe(false)
      if (!d.ok) expect(d.suspects.length).toBeGreaterThan(0)
    }
    const four = new Map([...three, [1, c.ys[1]]])
    const d = c.s.decode('forward', four, { mode: 'adversarial' })
    expect(d.ok && relativeError(d.value, c.truth)).toBeLessThan(1e-12)
    expect(d.ok && d.faulty).toEqual([3])
  })

  it('a shard repair from exactly m·n shards is refused; from m·n + 1 it is checked', () => {
    const c = makeCase(6, 2, 1, 'forward', 1, 2)
    expect(() => c.s.repairShard(pick(c.shards, [0, 1]), 4)).toThrow(UncorrectableError)
    expect(() => c.s.repairShard(pick(c.shards, [0, 1]), 4)).toThrow('cannot repair shard 4: too few results to check (2 of 3)')
    // m·n + 1 with one wrong: they do not lie on one code word, and which is wrong cannot be told.
    const bad = new Map([[0, c.shards[0]], [1, scaled(c.shards[1], 1.5)], [2, c.shards[2]]])
    expect(() => c.s.repairShard(bad, 4)).toThrow(UncorrectableError)
    // m·n + 2 with one wrong: rebuilt from the agreeing set.
    bad.set(3, c.shards[3])
    expect(relativeError(c.s.repairShard(bad, 4), c.shards[4])).toBeLessThan(1e-12)
    expect(relativeError(c.s.repairShard(pick(c.shards, [0, 1, 2]), 4), c.shards[4])).toBeLessThan(1e-12)
  })

  it('decodeWeights needs m·n + 1 agreeing shards', () => {
    const c = makeCase(6, 2, 1, 'forward', 1, 3)
    expect(() => c.s.decodeWeights(pick(c.shards, [1, 4]))).toThrow(/too few results to check/)
    expect(() => c.s.decodeWeights(new Map([[1, c.shards[1]], [4, c.shards[4]], [5, scaled(c.shards[5], -1)]]))).toThrow(UncorrectableError)
    expect(relativeError(c.s.decodeWeights(pick(c.shards, [1, 4, 5])), c.W)).toBeLessThan(1e-12)
  })

  it('the shard audit is undecidable, never "consistent", with ≤ m·n sketches', () => {
    const c = makeCase(8, 2, 2, 'forward', 1, 4)
    const probe = createShardProbe(c.shards[0].cols, 3, 9)
    const sketches = c.shards.map(sh => sketchShard(sh, probe))
    const undecidable = { consistent: false, faulty: [], decidable: false }
    expect(c.s.checkShards(pick(sketches, [0, 3, 5, 6]))).toEqual(undecidable)
    expect(c.s.checkShards(pick(sketches, [0, 3, 5]))).toEqual(undecidable)
    // Before: a wrong sketch among m·n passed as consistent.
    expect(c.s.checkShards(new Map([[0, sketches[0]], [3, scaled(sketches[3], 3)], [5, sketches[5]], [6, sketches[6]]]))).toEqual(undecidable)
    expect(c.s.checkShards(pick(sketches, [0, 3, 5, 6, 7]))).toEqual({ consistent: true, faulty: [], decidable: true })
    expect(c.s.checkShards(new Map([...pick(sketches, [0, 3, 5, 6, 7]), [3, scaled(sketches[3], 3)]])).consistent).toBe(false)
  })

  it('P = 16, clustered peers at R = Q + 1: an error hidden by leverage is refused (before: accepted, ~1e-3 off)', () => {
    const { m, n } = chooseCode(16)
    for (const phase of ['forward', 'backward'] as const) {
      const c = makeCase(16, m, n, phase, 4, 5)
      for (const present of [Array.from({ length: c.Q + 1 }, (_, i) => i), Array.from({ length: c.Q + 1 }, (_, i) => 15 - c.Q + i)]) {
        // The highest-leverage peer of this run of adjacent points, its error sized so that no
        // residual exceeds half the tolerance: the consistency check alone cannot see it.
        const { results, wrong } = leverageErrors(c.ys, c.s.points, present, c.Q, 1, c.s.tolerance(phase), 0.5, mulberry32(5))
        const unchecked = c.s.decode(phase, results, { acceptShift: Infinity })
        expect(unchecked.ok && relativeError(unchecked.value, c.truth)).toBeGreaterThan(1e-4)
        const d = c.s.decode(phase, results)
        if (d.ok) expect(relativeError(d.value, c.truth)).toBeLessThanOrEqual(SILENT)
        else expect(d.reason).toMatch(new RegExp(`^leverage: an error hidden at peer ${wrong[0]} `))
        // More results lower the leverage: with every peer the error is harmless or corrected.
        const all = c.s.decode(phase, new Map([...pick(c.ys, Array.from({ length: 16 }, (_, p) => p)), ...results]))
        expect(all.ok && relativeError(all.value, c.truth)).toBeLessThanOrEqual(SILENT)
      }
    }
  })
})

describe('leverage: errors hidden within the tolerance, every validator-accepted code with P ≤ 16', () => {
  it(`enumerates the codes the job validator accepts (${CODES.length})`, () => {
    expect(CODES.length).toBeGreaterThan(100)
    for (const [P, m, n] of CODES) expect(Math.max(m * n + n - 1, 2 * m * n - n)).toBeLessThan(P)
  })

  it('random and clustered subsets of ≥ Q + 1 results, 1–3 errors at the highest-leverage points just within the tolerance: every accepted decode is within 1e-6', () => {
    let accepted = 0; let refused = 0; let harmful = 0
    fc.assert(fc.property(
      fc.constantFrom(...CODES), fc.constantFrom<Phase>('forward', 'backward'), fc.constantFrom<DecodeMode>('adversarial', 'probabilistic'),
      fc.boolean(), fc.integer({ min: 1, max: 3 }), fc.double({ min: 0.2, max: 0.95, noNaN: true }), fc.integer(),
      ([P, m, n], phase, mode, clustered, count, fraction, seed) => {
        const c = makeCase(P, m, n, phase, 1 + (seed & 3), seed)
        const rng = mulberry32(seed)
        const R = c.Q + 1 + Math.floor(rng() * (P - c.Q))
        const present = clustered ? cluster(P, R, rng) : sample(P, R, rng)
        const { results } = leverageErrors(c.ys, c.s.points, present, c.Q, Math.min(count, R), c.s.tolerance(phase), fraction, rng)
        const unchecked = c.s.decode(phase, results, { mode, acceptShift: Infinity })
        if (unchecked.ok && relativeError(unchecked.value, c.truth) > SILENT) harmful++
        const d = c.s.decode(phase, results, { mode })
        if (!d.ok) { refused++; return }
        accepted++
        expect(relativeError(d.value, c.truth)).toBeLessThanOrEqual(SILENT)
      }), { numRuns: 500 })
    // Not vacuous: most decodes are accepted, and without the bound some would have been silent.
    expect(accepted).toBeGreaterThan(refused)
    expect(harmful).toBeGreaterThan(10)
  })

  it('shards: an audit that passes, and a repair, are within 1e-6 with errors hidden at high-leverage shards', () => {
    let consistent = 0
    fc.assert(fc.property(fc.constantFrom(...CODES), fc.boolean(), fc.integer({ min: 1, max: 2 }), fc.double({ min: 0.2, max: 0.95, noNaN: true }), fc.integer(),
      ([P, m, n], clustered, count, fraction, seed) => {
        const c = makeCase(P, m, n, 'forward', 1, seed)
        const q = m * n
        const rng = mulberry32(seed)
        const R = q + 1 + Math.floor(rng() * (P - q))
        const present = clustered ? cluster(P, R, rng) : sample(P, R, rng)
        const { results } = leverageErrors(c.shards, c.s.points, present, q, Math.min(count, R), c.s.tolerance('shard'), fraction, rng)
        const check = c.s.checkShards(results)
        if (check.consistent) {
          consistent++
          for (const [p, sh] of results) expect(relativeError(sh, c.shards[p])).toBeLessThanOrEqual(SILENT)
        }
        const target = [...Array(P).keys()].find(p => !present.includes(p))
        if (target === undefined) return
        try {
          expect(relativeError(c.s.repairShard(results, target), c.shards[target])).toBeLessThanOrEqual(SILENT)
        } catch (e) {
          if (!(e instanceof UncorrectableError)) throw e
        }
      }), { numRuns: 300 })
    expect(consistent).toBeGreaterThan(30)
  })
})

describe('coordinated adversary: colluders add one common polynomial of degree < Q', () => {
  /** Every result shifted by the colluders' polynomial: the other code word, decoded. */
  function otherWord (c: Case, phase: Phase, shift: (p: number) => Float64Array): Matrix {
    const all = new Map(c.ys.map((y, p) => [p, { ...y, data: y.data.map((v, k) => v + shift(p)[k]) }]))
    const d = c.s.decode(phase, all, { mode: 'adversarial' })
    if (!d.ok) throw new Error(d.reason)
    return d.value
  }
  const withColluders = CODES.filter(([P, m, n]) => P - Math.max(m * n + n - 1, 2 * m * n - n) >= 2)

  it('within ⌊(R − Q)/2⌋, results on another code word, every peer present: corrected in both modes', () => {
    fc.assert(fc.property(fc.constantFrom(...withColluders), fc.constantFrom<Phase>('forward', 'backward'), fc.constantFrom<DecodeMode>('adversarial', 'probabilistic'),
      fc.constantFrom<'random' | 'hidden'>('random', 'hidden'), fc.integer(),
      ([P, m, n], phase, mode, direction, seed) => {
        const c = makeCase(P, m, n, phase, 2, seed)
        const rng = mulberry32(seed)
        const t = Math.floor((P - c.Q) / 2)
        fc.pre(t >= 1)
        const all = [...Array(P).keys()]
        const colluders = sample(P, 1 + Math.floor(rng() * t), rng)
        const { results } = collude(c.ys, c.s.points, all, colluders, c.Q, 0.1 + rng(), direction, rng)
        const d = c.s.decode(phase, results, { mode })
        expect(d.ok).toBe(true)
        if (!d.ok) return
        expect(relativeError(d.value, c.truth)).toBeLessThan(1e-9)
        // Every peer flagged is a colluder (the 'hidden' polynomial may be ≈ 0 at a colluder:
        // that result is then not wrong, and not flagged).
        expect(d.faulty.every(p => colluders.includes(p))).toBe(true)
        if (direction === 'random') expect(d.faulty).toEqual(colluders)
      }), { numRuns: 200 })
  })

  it('within ⌊(R − Q)/2⌋ + 1, any size (1e-12 … 10 × the results), random or clustered subsets, the shift hardest to see: accepted decodes are within 1e-6', () => {
    let accepted = 0; let harmful = 0
    fc.assert(fc.property(fc.constantFrom(...withColluders), fc.constantFrom<Phase>('forward', 'backward'), fc.constantFrom<DecodeMode>('adversarial', 'probabilistic'),
      fc.boolean(), fc.constantFrom<'random' | 'hidden'>('random', 'hidden'), fc.double({ min: -12, max: 1, noNaN: true }), fc.boolean(), fc.integer(),
      ([P, m, n], phase, mode, clustered, direction, logSize, justBeyond, seed) => {
        const c = makeCase(P, m, n, phase, 2, seed)
        const rng = mulberry32(seed)
        const R = c.Q + 2 + Math.floor(rng() * (P - c.Q - 1))
        const t = Math.floor((R - c.Q) / 2)
        const present = clustered ? cluster(P, R, rng) : sample(P, R, rng)
        // The highest-leverage peers (the ends of the run) or random ones.
        const e = justBeyond ? t + 1 : 1 + Math.floor(rng() * t)
        const colluders = rng() < 0.5 ? [...present.slice(0, Math.ceil(e / 2)), ...present.slice(R - Math.floor(e / 2))] : sample(R, e, rng).map(i => present[i])
        const { results } = collude(c.ys, c.s.points, present, colluders, c.Q, 10 ** logSize, direction, rng)
        const unchecked = c.s.decode(phase, results, { mode, acceptShift: Infinity })
        if (unchecked.ok && relativeError(unchecked.value, c.truth) > SILENT) harmful++
        const d = c.s.decode(phase, results, { mode })
        if (!d.ok) return
        // Just beyond the bound the guarantee holds while the colluders hide in the agreeing set
        // with at least Q honest results beside them; once they get honest results flagged
        // instead, the received results are (within the tolerance) within ⌊(R − Q)/2⌋ of their
        // code word — the limit of unique decoding, tested exactly below.
        if (justBeyond && d.faulty.some(p => !colluders.includes(p))) return
        accepted++
        expect(relativeError(d.value, c.truth)).toBeLessThanOrEqual(SILENT)
      }), { numRuns: 500 })
    expect(accepted).toBeGreaterThan(200)
    expect(harmful).toBeGreaterThan(5)
  })

  it('just beyond (⌊(R − Q)/2⌋ + 1 colluders on another code word): refused, unless the colluders alone pass the mode\'s rule — then exactly their code word', () => {
    fc.assert(fc.property(fc.constantFrom(...withColluders), fc.constantFrom<Phase>('forward', 'backward'), fc.constantFrom<DecodeMode>('adversarial', 'probabilistic'), fc.integer(),
      ([P, m, n], phase, mode, seed) => {
        const c = makeCase(P, m, n, phase, 2, seed)
        const rng = mulberry32(seed)
        const R = c.Q + 1 + Math.floor(rng() * (P - c.Q))
        const t = Math.floor((R - c.Q) / 2)
        const present = sample(P, R, rng)
        const colluders = sample(R, t + 1, rng).map(i => present[i])
        const { results, shift } = collude(c.ys, c.s.points, present, colluders, c.Q, 0.1 + rng(), 'random', rng)
        const d = c.s.decode(phase, results, { mode })
        if (!d.ok) return
        // A random polynomial vanishes at no peer: the colluders' code word agrees with them alone.
        // Their set passes the adversarial rule when the honest results are ≤ t (Q = 1, R odd:
        // a majority of equal wrong values); probabilistic mode also takes a set of ≥ Q + 1 when
        // the honest results are fewer than Q + 1, or — of two clean sets — the one passing the
        // adversarial rule.
        const honest = R - t - 1
        const colludersPass = mode === 'adversarial' ? honest <= t : t + 1 >= c.Q + 1 && (honest < c.Q + 1 || honest <= t)
        if (relativeError(d.value, c.truth) <= 1e-9) {
          // Probabilistic mode corrects beyond the adversarial bound when the honest results
          // are Q + 1 or more and the colluders are not (continuous-error guarantee).
          expect(mode).toBe('probabilistic')
          expect(d.faulty).toEqual([...colluders].sort((a, b) => a - b))
          return
        }
        // The limit: colluders that outnumber the honest results beyond the bound (Q = 1 and R
        // odd in adversarial mode: a majority of equal wrong values).
        expect(colludersPass).toBe(true)
        expect(relativeError(d.value, otherWord(c, phase, shift))).toBeLessThan(1e-9)
      }), { numRuns: 300 })
  })

  it('the limit of unique decoding: R − Q even, ⌊(R − Q)/2⌋ + 1 colluders whose polynomial vanishes at Q − 1 honest results are decoded as their code word', () => {
    // P = 6, m = 2, n = 1, forward: Q = 2, R = 6, t = 2. Colluders 0, 1, 2 add p(v) = (v − v_3)·w:
    // p vanishes at the honest peer 3, so the colluders' code word agrees with 4 = R − t results
    // and the truth with 3 — to any decoder that corrects t errors, the truth is the one with
    // t + 1 errors. Both modes return the other code word (and name 4, 5 faulty): probabilistic
    // mode finds both words (3 and 4 results ≥ Q + 1, both clean) and takes the one within the
    // adversarial bound.
    const c = makeCase(6, 2, 1, 'forward', 2, 11)
    const w = randomMatrix(c.ys[0].rows, c.ys[0].cols, 12).data
    const p = (peer: number): Float64Array => w.map(x => x * (c.s.points[peer] - c.s.points[3]))
    const results = new Map(c.ys.map((y, peer) => [peer, peer <= 2 ? { ...y, data: y.data.map((v, k) => v + p(peer)[k]) } : y]))
    for (const mode of ['adversarial', 'probabilistic'] as const) {
      const d = c.s.decode('forward', results, { mode })
      expect(d.ok && relativeError(d.value, otherWord(c, 'forward', p))).toBeLessThan(1e-12)
      expect(d.ok && d.faulty).toEqual([4, 5])
    }
    // One colluder fewer (within the bound): corrected.
    results.set(2, c.ys[2])
    const d = c.s.decode('forward', results, { mode: 'adversarial' })
    expect(d.ok && relativeError(d.value, c.truth)).toBeLessThan(1e-12)
    expect(d.ok && d.faulty).toEqual([0, 1])
  })
})

describe('leverage bound constants', () => {
  it('accepts shifts up to 1e-7, a margin of 10 under the training simulator\'s silent tolerance', () => {
    expect(ACCEPT_SHIFT).toBe(1e-7)
    expect(ACCEPT_SHIFT * 10).toBeLessThanOrEqual(SILENT)
    // A sanity check of the polynomial helper the adversary uses: T_k values at a point.
    expect(chebValues(0.5, 3)).toEqual(Float64Array.from([1, 0.5, -0.5]))
    expect(corrupt).toBeTypeOf('function')
  })
})
