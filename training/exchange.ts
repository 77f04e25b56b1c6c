/**
 * The only way peers talk during training. The training core never touches I/O: it
 * publishes its result for a round and collects the others' until a policy is met.
 * Two implementations: in-memory (simulate and deterministic fault tests) and libp2p.
 */
import type { Matrix } from '../codes/matrix.ts'
import type { CollectPolicy } from './collect.ts'

export type { CollectPolicy } from './collect.ts'

/** Names one exchange round. `phase` is a short tag: 'forward', 'backward', 'audit', 'shard', 'verdict', … */
export interface RoundKey {
  step: number
  layer: number
  phase: string
  /** Incremented when a round is retried after a rollback, so stale results never mix in. */
  attempt: number
}

export interface Collected {
  /** Sender index → payload, including this peer's own result when it published one. */
  results: Map<number, Matrix>
  /** Sender index → ms from the start of collection to arrival. */
  arrivalMs: Map<number, number>
  /** True when `timeoutMs` ran out before `threshold` results were in. */
  timedOut: boolean
}

/** Where a peer was last heard: the newest forward/backward round it sent this peer a result for. */
export interface PeerPosition {
  step: number
  attempt: number
  /** The exchange's `heard` counter when it arrived: orders "heard since". */
  seq: number
}

export interface PublishOptions {
  reliable?: boolean
}

export interface Exchange {
  /** This peer's index in 0..peers-1. */
  readonly self: number
  readonly peers: number
  /**
   * Send a payload for a round to every other peer, or only to `to`. Resolves when handed to
   * the transport. `reliable`: the message must not be lost in transit (agreement traffic);
   * stream transports are reliable anyway, the in-memory one then retransmits what it drops.
   */
  publish (key: RoundKey, payload: Matrix, to?: readonly number[], opts?: PublishOptions): Promise<void>
  /** Collect payloads for a round until the policy is met. */
  collect (key: RoundKey, policy: CollectPolicy): Promise<Collected>
  /** Forget buffered payloads of rounds before `step` (bounded memory). */
  prune (step: number): void
  /** Per member, where it was last heard (null: never, or this peer). */
  positions (): ReadonlyArray<PeerPosition | null>
  /** A counter that grows with every product result heard (for `PeerPosition.seq`). */
  readonly heard: number
}

/**
 * The phases of an audit's rounds during a step (training/trainer/audit.ts): the sketches, the
 * audit votes, and the shards of a repair (pass k > 0 of the shards: `shard-k`). The final
 * rounds' phases are 'final-…' (context.ts roundKey) and are not these.
 */
export const AUDIT_PHASES = { sketch: 'audit', votes: 'audit-verdict', shard: 'shard' } as const

/** Whether `phase` names one of an audit's rounds during a step (AUDIT_PHASES). */
export const isAuditPhase = (phase: string): boolean => /^(audit|audit-verdict|shard(-\d+)?)$/.test(phase)

export function roundKeyString (k: RoundKey): string {
  return `${k.step}/${k.layer}/${k.phase}/${k.attempt}`
}
