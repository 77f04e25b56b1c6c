/**
 * A peer's own state: its coded shards W~_l and coded momentum V~_l of every layer, its
 * replicated biases and their momentum, where it is (step, attempt), the last verified
 * checkpoint rollbacks return to, and counters. Plus the geometry every part shares
 * (layer shapes, padded to multiples of the code's m × n) and checkpoint snapshot/restore.
 */
import { padTo, zeros } from '../../codes/matrix.ts'
import type { CodeScheme } from '../../codes/scheme.ts'
import type { TrainingConfig } from '../config.ts'
import { initModel, layerShapes, type LayerShape } from '../model.ts'
import { type Checkpoint, CheckpointError, cloneCheckpoint, type LayerState } from '../checkpoint.ts'
import { hashSeed } from '../rng.ts'
import type { Verdict } from '../recovery.ts'

/** Layer shapes: W_l is shapes[l] = N_{l+1} × N_l, held padded to padded[l] (multiples of m, n). */
export interface Geometry {
  /** Peers P. */
  readonly peers: number
  readonly m: number
  readonly n: number
  /** Layers L. */
  readonly L: number
  readonly shapes: readonly LayerShape[]
  readonly padded: ReadonlyArray<{ rows: number, cols: number }>
}

const ceilTo = (x: number, k: number): number => Math.ceil(x / k) * k

export function geometryOf (config: TrainingConfig, scheme: CodeScheme): Geometry {
  const { m, n } = scheme
  const shapes = layerShapes(config.model)
  return { peers: config.peers, m, n, L: shapes.length, shapes, padded: shapes.map(s => ({ rows: ceilTo(s.rows, m), cols: ceilTo(s.cols, n) })) }
}

export interface PendingStep {
  step: number
  attempt: number
  /** This peer's vote: could it decode every round, whom did its decoders flag (itself when it applied no update). */
  vote: Verdict
  /** Whether this peer applied the step's update (false: it could not decode; it is stale if the quorum goes on). */
  applied: boolean
  loss: number
}

export interface PeerState {
  readonly self: number
  /** jobDigest of the config: checkpoints of another job are refused. */
  readonly job: string
  layers: LayerState[]
  /** Steps completed (= the next step to run). */
  step: number
  /** Incremented by every rollback: fresh round keys and fault draws for the replay. */
  attempt: number
  /** The last verified checkpoint: what a rollback restores. */
  lastGood: Checkpoint
  /**
   * Whether lastGood passed an audit (or is step 0, or a checkpoint restored from disk, which
   * only verified states are written as). A resync's move forward takes the current, stale
   * state as lastGood: false until the next audit passes.
   */
  lastGoodVerified: boolean
  /**
   * The state at the newest audit this peer could not judge (too few voters or sketches reached
   * it) while it went on with the others: they may well have verified and checkpointed it. When
   * a rollback then takes this peer further back than the others and it must rejoin them,
   * this — at their step — is a far better start than moving forward from the older state
   * (resync.ts rejoinCandidate). Dropped once a verified checkpoint reaches its step.
   */
  candidate: Checkpoint | null
  /**
   * After a rejoin with stale state: this peer's own products are left out of its decodes
   * (they would be wrong) until an audit repaired its shards or found them on the code word.
   */
  distrustSelf: boolean
  /**
   * The step computed and applied speculatively whose agreement is still to come: this peer's
   * vote on it travels with the next step's first results, and the quorum's decision is taken
   * before the next step's first round is decoded.
   */
  pending: PendingStep | null
  /** In the final rounds (weights.ts): their round keys have phases of their own (context.ts roundKey). */
  finishing: boolean
  /** Seeds this step's audit vectors (compute.ts auditSaltOf): unknown to any peer before it published its first product. */
  auditSalt: number
  /** `exchange.heard` at this peer's last move (rollback, resync): positions heard before it are stale. */
  heardSince: number
  /**
   * Rollbacks per cause (the peers f + 1 voters suspected), to rate-limit them: a cause that
   * keeps forcing rollbacks gets its peers quarantined instead (agree.ts).
   */
  rollbackCauses: Map<string, number[]>
  /** Peers whose results every decode leaves out (erasures), until `untilStep`. */
  quarantine: { peers: Set<number>, untilStep: number } | null
  rollbacks: number
  consecutiveRollbacks: number
  /**
   * The furthest step an audit verified. Only new ground resets consecutiveRollbacks: a network
   * that rolls back to a checkpoint, replays (auditing on the way) and fails again at the same
   * place makes no progress, however many audits pass in between — the uncoded baseline, whose
   * audits cannot see a corrupted shard, looped so forever.
   */
  furthestVerified: number
  repairs: number
  lastLoss: number
}

/** Whether every decode leaves `peer`'s results out now (rate-limited rollbacks, agree.ts). */
export function quarantined (s: PeerState, peer: number): boolean {
  return s.quarantine !== null && s.step < s.quarantine.untilStep && s.quarantine.peers.has(peer)
}

/** A digest naming the job, so checkpoints of another job are refused. */
export function jobDigest (c: TrainingConfig): string {
  // What determines the parameters' meaning and trajectory; not run length or fault injection.
  const { peers, strategy, code, replicas, model, activation, batch, lr, momentum, seed, dataset } = c
  return hashSeed(JSON.stringify({ peers, strategy, code, replicas, model, activation, batch, lr, momentum, seed, dataset, lrSchedule: c.lrSchedule ?? 'cosine' })).toString(16)
}

/** Step 0: every peer draws the same W from the seed and keeps only its own shard. */
export function initialState (config: TrainingConfig, scheme: CodeScheme, self: number, geo: Geometry): PeerState {
  const init = initModel(config.model, config.activation, config.seed)
  const layers = init.layers.map((layer, l) => {
    const shard = scheme.encodeShard(padTo(layer.w, geo.padded[l].rows, geo.padded[l].cols), self)
    return { shard, velocity: zeros(shard.rows, shard.cols), bias: layer.b.slice(), biasVelocity: new Float64Array(layer.b.length) }
  })
  const s: Omit<PeerState, 'lastGood'> = { self, job: jobDigest(config), layers, step: 0, attempt: 0, lastGoodVerified: true, candidate: null, distrustSelf: false, pending: null, finishing: false, auditSalt: 0, heardSince: 0, rollbackCauses: new Map(), quarantine: null, rollbacks: 0, consecutiveRollbacks: 0, furthestVerified: 0, repairs: 0, lastLoss: NaN }
  return { ...s, lastGood: snapshot(s) }
}

/** A deep copy of the state as a Checkpoint. */
export function snapshot (s: Pick<PeerState, 'self' | 'step' | 'job' | 'layers'>): Checkpoint {
  return cloneCheckpoint({ peer: s.self, step: s.step, job: s.job, layers: s.layers })
}

/** Load a checkpoint of this job and peer (a copy; refused when it does not fit). */
export function restoreState (s: PeerState, c: Checkpoint, geo: Geometry): void {
  if (c.job !== s.job) throw new CheckpointError(`checkpoint belongs to job ${c.job}, this job is ${s.job}`)
  if (c.peer !== s.self) throw new CheckpointError(`checkpoint is peer ${c.peer}'s, this is peer ${s.self}`)
  if (c.layers.length !== geo.L) throw new CheckpointError(`checkpoint has ${c.layers.length} layers, the model ${geo.L}`)
  c.layers.forEach((ls, l) => {
    const want = { rows: geo.padded[l].rows / geo.m, cols: geo.padded[l].cols / geo.n }
    if (ls.shard.rows !== want.rows || ls.shard.cols !== want.cols || ls.bias.length !== geo.shapes[l].rows) {
      throw new CheckpointError(`checkpoint layer ${l} has the wrong shape`)
    }
  })
  s.layers = cloneCheckpoint(c).layers
  s.step = c.step
}
