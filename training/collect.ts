/**
 * When a round has collected enough: ONE rule, pure and clock-free, that both exchanges run —
 * the in-memory one on virtual arrival times (simulate), the libp2p one on wall-clock times
 * (real peers). So `simulate` exercises exactly the waiting and "enough to decode" logic that
 * real peers use; only where the times come from differs.
 *
 * A round is over when
 *   - `want` results are in, or every member that may still deliver (`live`) has delivered; or
 *   - `threshold` results are in and the grace period after the threshold-th arrival has
 *     passed (fixed `graceMs`, or the adaptive lateness estimate below); or
 *   - `timeoutMs` has passed (then `timedOut` when fewer than `threshold` are in).
 * and, when the policy has an `enough` test (the trainer's "these results decode"), a round
 * that would be over on count or grace but fails it keeps waiting for the live members that
 * have not delivered, one arrival at a time, until the timeout: an error among too few
 * results (a slow peer missed the grace) is then corrected instead of rolled back.
 */
import type { Matrix } from '../codes/matrix.ts'
import { medianPlusMad } from '../codes/stats.ts'

export interface CollectPolicy {
  /** Results needed to decode at all (the recovery threshold, or more). */
  threshold: number
  /** Results worth having (for error correction); collection ends as soon as this many are in. Default: every peer. */
  want?: number
  /**
   * How long to keep waiting for more results once `threshold` are in, in ms. When absent the
   * exchange's lateness estimate decides (median + k·MAD of how late results came before).
   */
  graceMs?: number
  /** Give up (returning what is in hand) after this long, in ms. */
  timeoutMs: number
  signal?: AbortSignal
  /**
   * The results in hand are usable only when this holds (e.g. they decode). Called only when
   * the count and grace rules would end the round; must be pure (it may be called again with
   * the same results).
   */
  enough?: (results: ReadonlyMap<number, Matrix>) => boolean
}

/** One arrival, in ms since the collection started (0 for results in hand before it). */
export interface Arrival {
  from: number
  atMs: number
}

export interface CollectView {
  /** Members of the round (P). */
  peers: number
  /** Results in hand, in arrival order. */
  arrivals: readonly Arrival[]
  /** Ms since the collection started. */
  nowMs: number
  /** Members that may still deliver (the others are presumed down: erasures). */
  live: ReadonlySet<number>
  /** The grace to use when the policy gives none (the exchange's lateness estimate), ms. */
  adaptiveGraceMs: number
}

export type CollectDecision =
  | { done: true, timedOut: boolean }
  /** Wait until `wakeAtMs` (or the next arrival, whichever comes first), then decide again. */
  | { done: false, wakeAtMs: number }

/**
 * The decision at `view.nowMs`. `results` is consulted only for `policy.enough`, and only
 * when the round would otherwise be over before its timeout.
 */
export function decideCollect (policy: CollectPolicy, view: CollectView, results: () => ReadonlyMap<number, Matrix>): CollectDecision {
  const n = view.arrivals.length
  const P = view.peers
  const want = Math.min(policy.want ?? P, P)
  const delivered = new Set(view.arrivals.map(a => a.from))
  let liveLeft = 0
  for (const i of view.live) if (!delivered.has(i)) liveLeft++
  const timedOutNow = view.nowMs >= policy.timeoutMs
  const over = (): CollectDecision => {
    // Past the count/grace rules: a test that fails keeps the round open while someone may
    // still deliver and there is time.
    if (policy.enough !== undefined && n < P && liveLeft > 0 && !timedOutNow && !policy.enough(results())) {
      return { done: false, wakeAtMs: policy.timeoutMs }
    }
    return { done: true, timedOut: false }
  }
  if (n >= want) return over()
  if (n >= policy.threshold) {
    if (liveLeft === 0) return over()
    const tQ = view.arrivals[policy.threshold - 1].atMs
    const deadline = Math.min(policy.timeoutMs, tQ + (policy.graceMs ?? view.adaptiveGraceMs))
    if (view.nowMs >= deadline) return over()
    return { done: false, wakeAtMs: deadline }
  }
  if (timedOutNow) return { done: true, timedOut: true }
  return { done: false, wakeAtMs: policy.timeoutMs }
}

export interface LatenessOptions {
  /** k in median + k·MAD. Default 4. */
  k?: number
  /** Grace before three samples were seen, ms. Default 250. */
  initialMs?: number
  minMs?: number
  maxMs?: number
  /** Samples kept per phase. Default 64. */
  history?: number
}

/**
 * How late results usually come after a round could first be decoded (after its
 * threshold-th result), per phase: the adaptive grace is median + k·MAD of recent lateness,
 * clamped. Both exchanges feed it the same samples (every result that arrived after the
 * threshold-th one), so a straggler is cut after the same grace in `simulate` and on libp2p.
 */
export class LatenessEstimator {
  private readonly samples = new Map<string, number[]>()
  /** Each phase's grace since its last sample: collect asks at every arrival, samples come once a round. */
  private readonly grace = new Map<string, number>()
  private readonly k: number
  private readonly initialMs: number
  private readonly minMs: number
  private readonly maxMs: number
  private readonly history: number

  constructor (opts: LatenessOptions = {}) {
    this.k = opts.k ?? 4
    this.initialMs = opts.initialMs ?? 250
    this.minMs = opts.minMs ?? 2
    this.maxMs = opts.maxMs ?? 5000
    this.history = opts.history ?? 64
  }

  sample (phase: string, ms: number): void {
    let s = this.samples.get(phase)
    if (s === undefined) { s = []; this.samples.set(phase, s) }
    s.push(ms)
    if (s.length > this.history) s.shift()
    this.grace.delete(phase)
  }

  graceMs (phase: string): number {
    let g = this.grace.get(phase)
    if (g === undefined) {
      g = adaptiveGrace(this.samples.get(phase) ?? [], this.k, this.minMs, this.maxMs, this.initialMs)
      this.grace.set(phase, g)
    }
    return g
  }

  /** The current grace of every phase seen (for status). */
  all (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const phase of this.samples.keys()) out[phase] = this.graceMs(phase)
    return out
  }
}

/** median + k·MAD of recent samples, clamped; `initial` before three samples. */
export function adaptiveGrace (samples: readonly number[], k: number, min: number, max: number, initial: number): number {
  if (samples.length < 3) return Math.min(max, Math.max(min, initial))
  return Math.min(max, Math.max(min, medianPlusMad(samples, k)))
}
