/**
 * Measured false-accept rates of PolyDot decoding: random error patterns within and
 * beyond the correction bounds, ≥ 10,000 trials per mode. A false accept is `ok: true`
 * with a value off the truth by more than 1e-6 relative. (The full table, with coordinated
 * errors and every validator-accepted code up to P = 16: codes/scripts/false-accept.ts.)
 */
import { describe, expect, it } from 'vitest'
import { gemm } from './gemm/index.ts'
import { type Matrix, relativeError, transpose } from './matrix.ts'
import { mulberry32 } from './random.ts'
import { type DecoderErrorKind, DECODER_ERROR_KINDS, corrupt, polydot, polydotConfigs, randomMatrix, sample } from './testing.ts'
import type { DecodeMode, Phase } from './scheme.ts'

const TRIALS = 20_000
// Independent errors with continuous random values (what "random error patterns" means beyond
// the bound, and what the probabilistic mode assumes). Bit flips are left out here: with
// m = n = 1 every peer computes the same value, so the same flipped bit on two peers makes two
// identical wrong results — a consistent code word no decoder can tell from the truth.
const RANDOM_KINDS: DecoderErrorKind[] = ['gaussian', 'huge', 'tiny', 'nan', 'inf']
const CONFIGS = polydotConfigs(12).filter(([P, m, n]) => P - (2 * m * n - n) >= 1 && P - (m * n + n - 1) >= 1)

interface Tally { within: number, withinWrong: number, withinRefused: number, withinLeverage: number, beyond: number, beyondWrong: number, beyondRefused: number }

function run (mode: DecodeMode, seed: number): Tally {
  const rng = mulberry32(seed)
  const t: Tally = { within: 0, withinWrong: 0, withinRefused: 0, withinLeverage: 0, beyond: 0, beyondWrong: 0, beyondRefused: 0 }
  for (let trial = 0; trial < TRIALS; trial++) {
    const [P, m, n] = CONFIGS[Math.floor(rng() * CONFIGS.length)]
    const s = polydot(P, m, n)
    const phase: Phase = rng() < 0.5 ? 'forward' : 'backward'
    const Q = s.recoveryThreshold[phase]
    const B = 1 + Math.floor(rng() * 3)
    const W = randomMatrix(2 * m, 2 * n, trial * 7 + seed)
    const inp = phase === 'forward' ? randomMatrix(2 * n, B, trial * 7 + seed + 1) : randomMatrix(2 * m, B, trial * 7 + seed + 1)
    const truth: Matrix = phase === 'forward' ? gemm(W, inp) : gemm(transpose(W), inp)
    const R = Q + 1 + Math.floor(rng() * (P - Q))
    const present = sample(P, R, rng)
    const cap = s.correctable(phase, R)
    const bound = mode === 'adversarial' ? cap.adversarial : cap.probabilistic
    const beyond = rng() < 0.5 && bound < R
    const e = beyond ? bound + 1 + Math.floor(rng() * (R - bound)) : Math.floor(rng() * (bound + 1))
    const bad = new Set(sample(R, e, rng).map(i => present[i]))
    const ys = new Map<number, Matrix>()
    for (const p of present) {
      const sh = s.encodeShard(W, p)
      ys.set(p, s.compute(phase, sh, phase === 'forward' ? s.encodeForwardInput(inp, p) : s.encodeBackwardInput(inp, p)))
    }
    const honest = new Map(ys)
    const kinds = beyond || mode === 'probabilistic' ? RANDOM_KINDS : DECODER_ERROR_KINDS
    for (const p of bad) {
      const other = honest.get(present[(present.indexOf(p) + 1) % R])!
      ys.set(p, corrupt(honest.get(p)!, kinds[Math.floor(rng() * kinds.length)], rng, other, 1e3 * s.tolerance(phase)))
    }
    const d = s.decode(phase, ys, { mode })
    const wrong = d.ok && !(relativeError(d.value, truth) <= 1e-6)
    if (!d.ok && !beyond && process.env.DEBUG_FAULTS !== undefined) console.log('refused', { P, m, n, Q, R, reason: d.reason, errs: [...bad].map(p => relativeError(ys.get(p)!, honest.get(p)!)) })
    if (wrong && process.env.DEBUG_FAULTS !== undefined) console.log({ P, m, n, phase, Q, R, e, beyond, bad: [...bad], faulty: d.ok && d.faulty, err: d.ok && relativeError(d.value, truth), kinds: [...bad].map(p => relativeError(ys.get(p)!, honest.get(p)!)) })
    if (beyond) { t.beyond++; if (wrong) t.beyondWrong++; if (!d.ok) t.beyondRefused++ } else {
      t.within++
      if (wrong) t.withinWrong++
      if (!d.ok) { t.withinRefused++; if (d.reason.startsWith('leverage')) t.withinLeverage++ }
    }
  }
  return t
}

function report (mode: DecodeMode, t: Tally): void {
  console.log(`[${mode}] within bound: ${t.within} trials, false accepts ${t.withinWrong} (rate ${(t.withinWrong / t.within).toExponential(2)}), refused ${t.withinRefused} (${t.withinLeverage} by the leverage bound); ` +
    `beyond bound: ${t.beyond} trials, false accepts ${t.beyondWrong} (rate ${(t.beyondWrong / t.beyond).toExponential(2)}), refused ${t.beyondRefused}`)
}

describe('PolyDot false-accept rate (measured)', () => {
  it(`adversarial mode, ${TRIALS} random trials`, () => {
    const t = run('adversarial', 11)
    report('adversarial', t)
    expect(t.within + t.beyond).toBe(TRIALS)
    expect(t.withinWrong).toBe(0)
    // Within the bound a decode is refused only by the leverage bound (R from Q + 1 up, random
    // subsets: the result set may rest too heavily on one result; the caller waits for more).
    expect(t.withinRefused).toBe(t.withinLeverage)
    expect(t.withinLeverage / t.within).toBeLessThan(0.03)
    expect(t.beyondWrong / t.beyond).toBeLessThanOrEqual(1e-4)
  })

  it(`probabilistic mode, ${TRIALS} random trials`, () => {
    const t = run('probabilistic', 23)
    report('probabilistic', t)
    expect(t.withinWrong).toBe(0)
    // Refusals within the bound only for errors at the detection limit (ambiguous fits), or by
    // the leverage bound (the results left rest too heavily on one of them).
    expect((t.withinRefused - t.withinLeverage) / t.within).toBeLessThan(1e-3)
    expect(t.withinLeverage / t.within).toBeLessThan(0.05)
    expect(t.beyondWrong / t.beyond).toBeLessThanOrEqual(1e-4)
  })
})
