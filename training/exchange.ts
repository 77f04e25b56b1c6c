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

export interface Exchange {
  /** This peer's index in 0..peers-1. */
  readonly self: number
  readonly peers: number
  /** Send a payload for a round to every other peer, or only to `to`. Resolves when handed to the transport. */
  publish (key: RoundKey, payload: Matrix, to?: readonly number[]): Promise<void>
  /** Collect payloads for a round until the policy is met. */
  collect (key: RoundKey, policy: CollectPolicy): Promise<Collected>
  /** Forget buffered payloads of rounds before `step` (bounded memory). */
  prune (step: number): void
}

export function roundKeyString (k: RoundKey): string {
  return `${k.step}/${k.layer}/${k.phase}/${k.attempt}`
}
