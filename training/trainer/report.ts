/** What a step reports (StepReport) and what the trainer reports about itself (TrainerStatus). */
import type { PeerState } from './state.ts'

export interface StepTiming {
  computeMs: number
  encodeMs: number
  decodeMs: number
  waitMs: number
}

/**
 * What one `step()` call did. A call settles the previous step's agreement (`decided`,
 * `agreed`, and what followed it: a rollback, or an audit, repairs and a checkpoint) and,
 * unless it rolled back, computes and speculatively applies the next step (`computed`).
 */
export interface StepReport {
  /** The step this call computed (or would have: the position when it rolled back). */
  step: number
  attempt: number
  /** 'rolled-back': the quorum rolled the previous step back; nothing was computed. */
  outcome: 'ok' | 'rolled-back'
  /** Whether this call ran the step's forward and backward passes. */
  computed: boolean
  /** Whether it applied the step's update (false: it could not decode a round; its vote says so). */
  applied: boolean
  /** Mean training loss of the batch at this peer (NaN when not computed). */
  loss: number
  correct: number
  batch: number
  /** Peers this peer's decoders flagged during the step. */
  flagged: number[]
  /** Rounds this peer could not decode (it stops at the first). */
  uncorrectable: number
  /** The step whose agreement this call settled, or null (the first step, or after a rollback or resync). */
  decided: number | null
  /** The quorum's decision about `decided`. */
  agreed: { rollback: boolean, flagged: number[] }
  /** Voters that said "could not decode" while the quorum went on. */
  contradicted: number[]
  /** Peers quarantined by this call: their cause forced too many rollbacks (agree.ts rateLimit). */
  quarantined: number[]
  /** Peers whose shards (or biases) were repaired after the decided step's audit (agreed). */
  repaired: number[]
  /** True when this peer's own state was rebuilt from the others. */
  repairedSelf: boolean
  audited: boolean
  /** The audit could not decide for want of sketches: went on unverified (audit.ts). */
  auditInconclusive: boolean
  /** Step of the checkpoint taken (the decided step's verified state), if any. */
  checkpointed: number | null
  /** Step of the checkpoint restored, when rolled back. */
  rolledBackTo: number | null
  /** When this peer found the network elsewhere and moved there first. */
  /** `verified`: back to its verified checkpoint at the network's attempt (trusted); otherwise forward with stale state (expecting repair). */
  resynced: { from: { step: number, attempt: number }, to: { step: number, attempt: number }, verified?: boolean } | null
  timing: StepTiming
}

export interface TrainerStatus {
  self: number
  step: number
  attempt: number
  totalSteps: number
  lastCheckpointStep: number
  rollbacks: number
  repairs: number
  lastLoss: number
  /** Own products left out of own decodes (after a resync, until repaired). */
  distrustSelf: boolean
}

/** A report of nothing done yet, at (step, attempt). */
export function emptyReport (step: number, attempt: number, batch: number, timing: StepTiming): StepReport {
  return {
    step,
    attempt,
    outcome: 'ok',
    computed: false,
    applied: false,
    loss: NaN,
    correct: 0,
    batch,
    flagged: [],
    uncorrectable: 0,
    decided: null,
    agreed: { rollback: false, flagged: [] },
    contradicted: [],
    quarantined: [],
    repaired: [],
    repairedSelf: false,
    audited: false,
    auditInconclusive: false,
    checkpointed: null,
    rolledBackTo: null,
    resynced: null,
    timing
  }
}

export function trainerStatus (s: PeerState, totalSteps: number): TrainerStatus {
  return {
    self: s.self,
    step: s.step,
    attempt: s.attempt,
    totalSteps,
    lastCheckpointStep: s.lastGood.step,
    rollbacks: s.rollbacks,
    repairs: s.repairs,
    lastLoss: s.lastLoss,
    distrustSelf: s.distrustSelf
  }
}
