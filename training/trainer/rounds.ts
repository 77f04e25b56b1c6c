/**
 * Exchange rounds as the trainer runs them: the collect policy of every kind of round (in
 * one place), publish + collect of one round, and the step's time accounting.
 */
import type { Matrix } from '../../codes/matrix.ts'
import type { CodeScheme, Phase } from '../../codes/scheme.ts'
import type { Collected, CollectPolicy, Exchange, RoundKey } from '../exchange.ts'
import type { StepTiming } from './report.ts'

/** The CollectPolicy of each kind of round. */
export interface Policies {
  /**
   * A coded product round ('forward' / 'backward'): the phase's recovery threshold, then every
   * peer; a round whose results do not pass `enough` (they do not decode) keeps waiting for
   * the members that have not delivered. `distrustSelf`: this peer's own result is in hand
   * but does not count, so one more is needed.
   */
  product (phase: Phase, enough: CollectPolicy['enough'], distrustSelf: boolean): CollectPolicy
  /**
   * Verdict rounds ('verdict', 'audit-verdict' and their echoes) wait for every peer (up to
   * verdictGraceMs after a majority is in): a verdict cut off by an impatient deadline would
   * split the peers' decisions.
   */
  verdict (): CollectPolicy
  /**
   * The audit's sketches: m·n of them to judge shards at all, and a strict majority of all
   * peers, since replicated state (biases) is judged by the copy a strict majority holds —
   * with fewer in hand the round could only be undecidable (a needless rollback). Then every peer.
   */
  audit (): CollectPolicy
  /**
   * A layer's shard round of a repair: a repaired peer waits for m·n + 1 shards (one beyond
   * the code word's dimension, so a wrong one shows) and wants every
   * healthy one (P − bad); a healthy peer only publishes (to the repaired ones).
   */
  shard (repaired: boolean, bad: number): CollectPolicy
  /** The final weights round: every shard (the spare ones let the decoder outvote a bad one). */
  weights (): CollectPolicy
}

export interface PolicyOptions {
  peers: number
  scheme: CodeScheme
  timeoutMs: number
  /** Fixed grace of product, audit and shard rounds; the exchange's adaptive grace when absent. */
  graceMs?: number
  verdictGraceMs: number
}

export function createPolicies (o: PolicyOptions): Policies {
  const { peers: P, scheme, timeoutMs, verdictGraceMs } = o
  const mn = scheme.m * scheme.n
  const policy = (threshold: number, want = P): CollectPolicy =>
    ({ threshold: Math.min(threshold, P), want, timeoutMs, ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}) })
  return {
    product: (phase, enough, distrustSelf) => {
      const q = phase === 'forward' ? scheme.recoveryThreshold.forward : scheme.recoveryThreshold.backward
      return { ...policy(q + (distrustSelf ? 1 : 0)), enough }
    },
    verdict: () => ({ threshold: Math.ceil((P + 1) / 2), want: P, timeoutMs, graceMs: verdictGraceMs }),
    // Every live member's sketch is waited for (up to the verdict grace): a sketch that comes
    // after the deadline is a state nobody judged.
    audit: () => ({ ...policy(Math.max(Math.min(P, mn), Math.floor(P / 2) + 1)), graceMs: verdictGraceMs }),
    shard: (repaired, bad) => repaired ? policy(Math.min(mn + 1, P - bad), P - bad) : policy(1, 1),
    weights: () => ({ threshold: Math.min(P, mn + 1), want: P, timeoutMs, graceMs: verdictGraceMs })
  }
}

/** Time spent per kind of work; reset at the start of every step. */
export interface Clock {
  readonly timing: StepTiming
  reset (): void
  /** Run fn, adding its duration to `what`. */
  timed<T> (what: keyof StepTiming, fn: () => T): T
}

export function createClock (): Clock {
  const timing: StepTiming = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  return {
    timing,
    reset () { timing.computeMs = 0; timing.encodeMs = 0; timing.decodeMs = 0; timing.waitMs = 0 },
    timed (what, fn) {
      const t0 = performance.now()
      try { return fn() } finally { timing[what] += performance.now() - t0 }
    }
  }
}

/**
 * One round: publish this peer's payload (none when it abstains or only listens), collect
 * under the policy. The wait counted is until the last other peer's result arrived, or the
 * whole timeout when it ran out.
 */
export async function runRound (exchange: Exchange, clock: Clock, key: RoundKey, payload: Matrix | null, pol: CollectPolicy, to?: readonly number[], reliable = false): Promise<Collected> {
  if (payload !== null) await exchange.publish(key, payload, to, { reliable })
  const c = await exchange.collect(key, pol)
  let w = 0
  for (const [from, ms] of c.arrivalMs) if (from !== exchange.self && ms > w) w = ms
  clock.timing.waitMs += c.timedOut ? pol.timeoutMs : w
  return c
}
