/**
 * The one interface every coding scheme implements: Generalized PolyDot (with MDS and
 * MatDot-like as special cases), replication and uncoded. Training strategies talk to
 * a scheme only through this, so the same step code runs every baseline.
 *
 * Shapes: a layer's weight W is N_out × N_in; a mini-batch X is N_in × B; the
 * back-propagated Δ is N_out × B. A scheme splits W into m × n blocks.
 */
import type { Matrix } from './matrix.ts'

export type Phase = 'forward' | 'backward'

/** How much to trust an error pattern: worst case, or continuous random errors. */
export type DecodeMode = 'adversarial' | 'probabilistic'

export interface Thresholds {
  forward: number
  backward: number
}

/** How many wrong results can be corrected when `received` results are in hand. */
export interface Capability {
  /** ⌊(R − Q)/2⌋: any error values. */
  adversarial: number
  /** R − Q − 1: errors with continuous random values (almost surely). */
  probabilistic: number
}

export interface DecodeOptions {
  /** Default 'probabilistic'. */
  mode?: DecodeMode
  /** Relative residual above which a result counts as inconsistent; default from the scheme's conditioning. */
  tolerance?: number
  /**
   * Faulty peers that may coordinate (the job's f): their results can lie together on another
   * code word, so a decode is accepted only from an agreeing set of at least q + colluders
   * results — then at least q of them are honest, and q honest results fix the code word.
   * Fewer agreeing: refused, and the round waits for more. Default 0 (the mode's rule alone).
   */
  colluders?: number
}

export type DecodeResult =
  | {
    ok: true
    /** Forward: N_out × B. Backward: N_in × B. */
    value: Matrix
    /** Peers whose results the decode rests on. */
    used: number[]
    /** Peers whose results disagreed with the decode (detected, and corrected by not using them). */
    faulty: number[]
    /** Largest relative residual among the accepted results. */
    residual: number
  }
  | {
    ok: false
    /** Why no result could be trusted (too few results, no consistent subset, …). */
    reason: string
    /** Peers that took part in an inconsistency, when that can be said. */
    suspects: number[]
  }

export interface ShardCheck {
  /** The shards were checked (enough of them) and all lie on one code word. */
  consistent: boolean
  /** Shards that lie off the code word the others agree on. */
  faulty: number[]
  /** False when the healthy shards could not be identified (too many bad ones). */
  decidable: boolean
}

/** What a round of either phase corrects with `received` results: the smaller of the two phases' capabilities. */
export function worstCorrectable (scheme: Pick<CodeScheme, 'correctable'>, received: number): Capability {
  const f = scheme.correctable('forward', received)
  const b = scheme.correctable('backward', received)
  return { adversarial: Math.min(f.adversarial, b.adversarial), probabilistic: Math.min(f.probabilistic, b.probabilistic) }
}

export interface CodeScheme {
  readonly kind: 'polydot' | 'replication' | 'uncoded'
  readonly peers: number
  readonly m: number
  readonly n: number
  readonly recoveryThreshold: Thresholds
  /** Worst-case condition number of decoding over every threshold-sized subset of peers. */
  readonly conditionNumber: Thresholds

  correctable (phase: Phase, received: number): Capability
  /** The relative residual above which a decode flags a result (or, 'shard', a shard check a shard). Optional: schemes without one use 1e-9. */
  tolerance? (phase: Phase | 'shard'): number

  /** W~_p for peer p. Used once, at initialisation: training never re-encodes W. */
  encodeShard (w: Matrix, peer: number): Matrix
  /** x~_p: X (N_in × B) → what peer p multiplies its shard with in the forward pass. */
  encodeForwardInput (x: Matrix, peer: number): Matrix
  /** δ~_p: Δ (N_out × B) → what peer p multiplies its shard's transpose with in the backward pass. */
  encodeBackwardInput (delta: Matrix, peer: number): Matrix
  /** Peer p's partial product: W~_p·x~_p (forward) or W~_pᵀ·δ~_p (backward). */
  compute (phase: Phase, shard: Matrix, encodedInput: Matrix): Matrix
  /**
   * Decode the full product (W·X or Wᵀ·Δ) from any results, detecting and correcting errors.
   * Schemes with redundancy never accept unchecked: PolyDot needs Q + 1 results at least and an
   * agreeing set within the leverage bound; replication two agreeing copies of every block.
   * Uncoded (no redundancy) accepts every result unchecked — the unprotected baseline.
   */
  decode (phase: Phase, results: ReadonlyMap<number, Matrix>, opts?: DecodeOptions): DecodeResult

  /** In place: W~_p ← W~_p − lr·(coded Δ)(coded X)ᵀ, equal to Enc_p(W − lr·Δ·Xᵀ). */
  applyUpdate (shard: Matrix, delta: Matrix, x: Matrix, lr: number, peer: number): void
  /**
   * Rebuild peer `target`'s shard from shards of other peers that agree on one code word
   * (PolyDot: at least m·n + 1 of them; replication: two agreeing copies). Throws
   * UncorrectableError when they are too few or do not agree.
   */
  repairShard (shards: ReadonlyMap<number, Matrix>, target: number, opts?: { mode?: DecodeMode }): Matrix
  /**
   * Do the given shards lie on one code word? Names the ones that do not. `tolerance`
   * (relative residual) overrides the scheme's default where the scheme has one; `mode` is the
   * errors assumed (as for decode: 'adversarial' names at most ⌊(R − m·n)/2⌋ faulty, so that
   * identical wrong shards cannot outvote the right ones). Shards too
   * few to check (PolyDot: ≤ m·n; replication: a block with one copy) are never "consistent":
   * { consistent: false, decidable: false }.
   */
  checkShards (shards: ReadonlyMap<number, Matrix>, opts?: { tolerance?: number, mode?: DecodeMode }): ShardCheck
  /** The uncoded W from enough agreeing shards (exports, checkpoints, ground truth); throws UncorrectableError otherwise. */
  decodeWeights (shards: ReadonlyMap<number, Matrix>, opts?: { mode?: DecodeMode }): Matrix
}
