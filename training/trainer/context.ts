/** What the trainer's parts share: one object, built once by createPeerTrainer. */
import type { Matrix } from '../../codes/matrix.ts'
import type { CodeScheme } from '../../codes/scheme.ts'
import type { TrainingConfig } from '../config.ts'
import type { Collected, CollectPolicy, Exchange, RoundKey } from '../exchange.ts'
import type { FaultSite } from '../soft-errors.ts'
import type { Clock, Policies } from './rounds.ts'
import type { Geometry, PeerState } from './state.ts'
import type { TrainerObserver } from './types.ts'

export interface TrainerContext {
  readonly config: TrainingConfig
  readonly self: number
  readonly scheme: CodeScheme
  readonly geo: Geometry
  /** Mutable: the parts update it in place. */
  readonly state: PeerState
  readonly exchange: Exchange
  readonly policies: Policies
  readonly clock: Clock
  /** Publish + collect one round (runRound over this peer's exchange and clock). */
  /** `reliable`: the payload must not be lost in transit (audit sketches and repair shards decide state). */
  round (key: RoundKey, payload: Matrix | null, pol: CollectPolicy, to?: readonly number[], reliable?: boolean): Promise<Collected>
  /** The fault injector at a site of this peer, keyed by the current step and attempt. */
  inject (site: FaultSite, data: Float64Array, layer: number, tag?: string): boolean
  readonly observer: TrainerObserver | undefined
  readonly log: (msg: string) => void
}

/**
 * The key of a round of the current step and attempt. The final rounds (weights.ts) have
 * phases of their own: they meet at attempt 0 of the last step, whose audit rounds a first
 * attempt may already have used before a rollback — sketches of a state since abandoned.
 */
export const roundKey = (ctx: TrainerContext, layer: number, phase: string): RoundKey =>
  ({ step: ctx.state.step, layer, phase: ctx.state.finishing ? `final-${phase}` : phase, attempt: ctx.state.attempt })
