/** The trainer's public contract: its options, the simulator's observer hooks, its API and errors. */
import type { Matrix } from '../../codes/matrix.ts'
import type { CodeScheme } from '../../codes/scheme.ts'
import type { TrainingConfig } from '../config.ts'
import type { Exchange, RoundKey } from '../exchange.ts'
import type { Dataset } from '../dataset.ts'
import type { Model } from '../model.ts'
import type { FaultInjector } from '../soft-errors.ts'
import type { Checkpoint } from '../checkpoint.ts'
import type { StepReport, TrainerStatus } from './report.ts'

export interface DecodeObservation {
  peer: number
  key: RoundKey
  /** The unpadded operand this peer encoded: A_l (forward) or Δ_l (backward). */
  input: Matrix
  /** The unpadded accepted decode (before any local fault), or null when decoding failed. */
  value: Matrix | null
  flagged: number[]
}

export interface UpdateObservation {
  peer: number
  step: number
  attempt: number
  layer: number
  /** Unpadded Δ_l (N_{l+1} × B) and A_l (N_l × B) this peer updates with. */
  delta: Matrix
  x: Matrix
}

/** Hooks for a simulator holding the ground truth. Never needed in production. */
export interface TrainerObserver {
  decoded? (o: DecodeObservation): void
  updated? (o: UpdateObservation): void
}

export interface PeerTrainerOptions {
  config: TrainingConfig
  self: number
  exchange: Exchange
  dataset: Dataset
  /** Shared by all peers of a process (pure); built from the config when absent. */
  scheme?: CodeScheme
  faults?: FaultInjector
  observer?: TrainerObserver
  log?: (msg: string) => void
  /** Give up on a round after this long (ms, default 30 s). */
  timeoutMs?: number
  /** Fixed grace after the threshold is reached (ms); default: adaptive in the exchange. */
  graceMs?: number
  /** How long verdict rounds wait for the last peers once a majority is in (ms, default 2 s). */
  verdictGraceMs?: number
  /** Rollbacks in a row without verifying a step beyond the furthest verified before training is declared stalled (default 50). */
  maxConsecutiveRollbacks?: number
}

export interface PeerTrainer {
  readonly self: number
  readonly scheme: CodeScheme
  readonly totalSteps: number
  readonly stepsPerEpoch: number
  /** Steps completed (= the next step to run). */
  readonly currentStep: number
  readonly done: boolean
  step (): Promise<StepReport>
  checkpoint (): Checkpoint
  restore (c: Checkpoint): void
  /** The last verified checkpoint (what a rollback returns to), a copy. */
  verifiedCheckpoint (): Checkpoint
  /**
   * Move to `step` with this peer's current (stale) state, as a peer that was away rejoins
   * the network: its own products are left out of its decodes until an audit repaired its
   * shards or found them on the code word. The state at `step` becomes what rollbacks return to.
   */
  rejoin (step: number, attempt?: number): void
  decodedWeights (): Promise<Model>
  decodeModelFrom (shards: ReadonlyMap<number, readonly Matrix[]>): Model
  shards (): readonly Matrix[]
  status (): TrainerStatus
}

export class TrainerError extends Error {
  override name = 'TrainerError'
}

/** Every attempt since the last checkpoint was rolled back: the fault rate is beyond recovery. */
export class StalledError extends TrainerError {
  override name = 'StalledError'
}
