/**
 * What a peer answers to the control protocol's `status` request: the status document
 * (`PeerStatus`, protocols/status.ts) and its `peers` part, this peer's view of every member's
 * health. Pure functions of what the engine knows; the engine (node/engine.ts) gathers it.
 *
 * A member's health state:
 *   self         this peer
 *   done         its latest hello says it finished the job
 *   unreachable  no hello for UNREACHABLE_AFTER_MS
 *   suspect      its frames' score fell below SUSPECT_SCORE, or agreed verdicts flagged it
 *                more often than it was repaired
 *   healthy      otherwise
 */
import { quantile } from '../codes/stats.ts'
import type { ExchangeStats } from '../protocols/results.ts'
import type { StepTiming } from '../training/trainer/index.ts'
import type { ControllerStatus, PeerHealth, PeerStatus } from '../protocols/status.ts'

/** A member whose last hello is older than this is unreachable. */
/** Three training hello periods (node/membership.ts HELLO_TRAINING_MS): one late hello is not a lost peer. */
export const UNREACHABLE_AFTER_MS = 15_000
/** A member whose frame score is below this is suspect. */
export const SUSPECT_SCORE = -5

/** The result exchange's view of one member (its `stats().peers[i]`). */
export interface LinkView {
  score: number
  framesDropped: number
  lastSeenMs: number | null
}

export interface HealthInput {
  /** Member peer ids in index order. */
  members: readonly string[]
  /** This peer's index. */
  self: number
  /** A member's latest hello and when it arrived (ms since the epoch). */
  helloOf: (peer: string) => { at: number, step: number, done: boolean } | undefined
  /** The result exchange's per-member view, in index order (absent before the exchange starts). */
  links?: readonly LinkView[]
  /** Per member index: agreed verdicts that named it, times it was repaired. */
  flagged: readonly number[]
  repaired: readonly number[]
  /** This peer's own step (its trainer's), null before training. */
  selfStep: number | null
  now?: number
}

export function peerHealth (h: HealthInput): PeerHealth[] {
  const now = h.now ?? Date.now()
  return h.members.map((peerId, i) => {
    const hello = h.helloOf(peerId)
    const link = h.links?.[i]
    const helloAge = hello === undefined ? null : now - hello.at
    const flagged = h.flagged[i] ?? 0
    const repaired = h.repaired[i] ?? 0
    let state: PeerHealth['state'] = 'healthy'
    if (i === h.self) state = 'self'
    else if (hello?.done === true) state = 'done'
    else if (helloAge === null || helloAge > UNREACHABLE_AFTER_MS) state = 'unreachable'
    else if ((link?.score ?? 0) < SUSPECT_SCORE || flagged > repaired) state = 'suspect'
    return {
      index: i,
      peerId,
      flagged,
      repaired,
      score: link?.score ?? 0,
      framesDropped: link?.framesDropped ?? 0,
      lastResultMs: link?.lastSeenMs ?? null,
      lastHelloMs: helloAge,
      step: i === h.self ? h.selfStep : (hello?.step ?? null),
      state
    }
  })
}

/** The result exchange's counters (its `stats()`, without the per-link detail). */
export type ExchangeView = Omit<ExchangeStats, 'peers'>

export interface StatusInput {
  job: string
  peerId: string
  index: number
  phase: PeerStatus['phase']
  addresses: string[]
  /** The trainer's position (absent before training). */
  trainer?: { step: number, totalSteps: number, attempt: number }
  /** Loss of every completed step; 1/0 correctness ratio of every completed step. */
  losses: readonly number[]
  correct: readonly number[]
  /** Detection counters; `injected` is the fault injector's count. */
  counters: { detected: number, corrected: number, uncorrectable: number }
  injected: number
  rollbacks: number
  repairs: number
  rejoins: number
  restoredFrom: number | null
  lastCheckpoint: number | null
  verdictDisagreements: number
  peers: PeerHealth[]
  /** Accumulated ms per activity, and the wall time of every step. */
  timing: { computeMs: number, encodeMs: number, decodeMs: number, waitMs: number }
  stepMs: readonly number[]
  exchange?: ExchangeView
  controller?: ControllerStatus
}

/** Training accuracy is the mean over this many latest steps. */
export const ACCURACY_WINDOW = 50

/** NaN and ±∞ do not survive JSON (they become null): say null. */
const finiteOrNull = (v: number | undefined): number | null => v !== undefined && Number.isFinite(v) ? v : null

export function peerStatus (s: StatusInput): PeerStatus {
  const acc = s.correct.slice(-ACCURACY_WINDOW)
  const ex = s.exchange
  return {
    job: s.job,
    peerId: s.peerId,
    index: s.index,
    phase: s.phase,
    addresses: s.addresses,
    step: s.trainer?.step ?? 0,
    totalSteps: s.trainer?.totalSteps ?? null,
    attempt: s.trainer?.attempt ?? 0,
    loss: finiteOrNull(s.losses[s.losses.length - 1]),
    trainAccuracy: acc.length > 0 ? finiteOrNull(acc.reduce((a, x) => a + x, 0) / acc.length) : null,
    faults: { injected: s.injected, detected: s.counters.detected, corrected: s.counters.corrected, uncorrectable: s.counters.uncorrectable },
    rollbacks: s.rollbacks,
    repairs: s.repairs,
    rejoins: s.rejoins,
    restoredFrom: s.restoredFrom,
    lastCheckpoint: s.lastCheckpoint,
    verdictDisagreements: s.verdictDisagreements,
    peers: s.peers,
    timing: timingSummary(s.timing, s.stepMs),
    bytes: { sent: ex?.bytesSent ?? 0, received: ex?.bytesReceived ?? 0 },
    frames: { sent: ex?.framesSent ?? 0, received: ex?.framesReceived ?? 0, dropped: ex?.framesDropped ?? 0, dropReasons: ex?.dropReasons ?? {} },
    graceMs: ex?.graceMs ?? {},
    ...(s.controller !== undefined ? { controller: s.controller } : {})
  }
}

/** Seconds per kind of work and the step-time quantiles: the `timing` of the status and the summary. */
export function timingSummary (t: StepTiming, stepMs: readonly number[]): { computeS: number, encodeS: number, decodeS: number, waitS: number, stepMs: { median: number, p95: number } } {
  return {
    computeS: t.computeMs / 1000,
    encodeS: t.encodeMs / 1000,
    decodeS: t.decodeMs / 1000,
    waitS: t.waitMs / 1000,
    stepMs: { median: quantile(stepMs, 0.5), p95: quantile(stepMs, 0.95) }
  }
}
