/**
 * ONE peer's trainer: the I/O-free core that `simulate` runs P times over the in-memory
 * exchange and that a libp2p peer runs once over the network exchange.
 *
 *   const t = createPeerTrainer({ config, self, exchange, dataset, scheme?, faults?, observer?, log? })
 *   t.totalSteps                 steps this job trains for (epochs × steps per epoch, or --steps)
 *   await t.step()               one training step → StepReport (collective: every peer must call it)
 *   t.checkpoint()               this peer's state as a Checkpoint (serializeCheckpoint → bytes for disk)
 *   t.restore(checkpoint)        load a Checkpoint (refused when it belongs to another job or peer)
 *   await t.decodedWeights()     the uncoded model: a final audit (+ repairs), then every peer's shards are
 *                                decoded (collective rounds 'audit', 'audit-verdict', 'shard', 'weights')
 *   t.decodeModelFrom(shards)    the same, from shards gathered by other means (Map peer → per-layer shard)
 *   t.shards()                   this peer's coded shards, per layer
 *   t.currentStep, t.done        steps completed; whether training is over
 *   t.status()                   step, attempt, last verified checkpoint, counters
 *
 * A peer owns only its coded shards W~_p (and coded momentum V~_p) of every layer plus
 * replicated small state (biases and their momentum). Every "collective" call runs the
 * same sequence of exchange rounds on every peer; peers talk only through `Exchange`.
 *
 * One step at peer p (layers l = 0…L−1, W_l is N_{l+1} × N_l, padded to multiples of m, n):
 *   forward   x~ = enc_fwd(A_l, p); y = W~_l·x~; publish; collect Q_fwd…P; decode → S_l (+ bias)
 *             A_{l+1} = f(S_l); at the top softmax + cross-entropy → Δ_{L−1}
 *   backward  for l = L−1…1: δ~ = enc_bwd(Δ_l, p); y = W~_lᵀ·δ~; exchange; decode → G;
 *             Δ_{l−1} = G ⊙ f′(S_{l−1})
 *   update    V~ ← μ·V~ + enc(Δ_l)·enc(A_l)ᵀ, W~ ← W~ − η·V~ (μ = 0: W~ −= η·enc(Δ)enc(A)ᵀ);
 *             b ← b − η·(μ·v_b + rowsum Δ). In place on the shard: never re-encoded.
 *             Applied speculatively, when every round of the step decoded.
 *   vote      {could not decode?, whom my decoders flagged}, published with the NEXT step's
 *             first product round (no round of its own); the quorum's decision (agree.ts,
 *             tolerating f = ⌊(P − Q)/2⌋ faulty voters) is taken before that round is decoded:
 *             roll back / audit (someone flagged, or a checkpoint due) / go on
 *   audit     when someone was flagged, and every K steps: each peer publishes a sketch
 *             [W~_l·r_l; V~_l·r_l] (shared seeded r_l) and its biases; `checkShards` names
 *             shards off the code word, the majority copy names wrong biases — each layer's
 *             W~, V~, bias and bias velocity on its own scale, at CLEAN_FRACTION of the
 *             decoders' tolerance, so no error a decoder would flag survives; a verdict
 *             round (by quorum) agrees on whom to repair; healthy peers send their shards
 *             (phase 'shard') and the repaired peer rebuilds its own with `repairShard`.
 *   checkpoint  after every audit that found (or left, after repair) every shard consistent —
 *             every K steps, and whenever a step had flagged peers: the state rollbacks return to.
 *   rollback  when the quorum says so every peer restores its last verified checkpoint
 *             and replays from there with attempt + 1 (fresh round keys, fresh fault draws).
 *   resync    a peer that finds the network at another position (lost votes, a lone
 *             rollback, a restart) moves there with its stale state and is repaired (resync.ts).
 *
 * The parts, each given one TrainerContext (context.ts):
 *   state.ts    shards, biases, step/attempt, last checkpoint; geometry; snapshot/restore
 *   rounds.ts   the CollectPolicy of every kind of round; publish + collect; timing
 *   compute.ts  coded products, forward/backward passes, the in-place update
 *   agree.ts    agreement by quorum (f = ⌊(P − Q)/2⌋ faulty voters), votes on the wire
 *   resync.ts   moving to the network's position when this peer finds it elsewhere
 *   audit.ts    shard audit + repair
 *   step.ts     one step: passes → verdict → rollback | update → audit → checkpoint
 *   weights.ts  the decoded model
 *   report.ts   StepReport, TrainerStatus;  types.ts  options, observer, API, errors
 */
import type { Matrix } from '../../codes/matrix.ts'
import type { Checkpoint } from '../checkpoint.ts'
import { cloneCheckpoint } from '../checkpoint.ts'
import { BatchOrder } from '../batches.ts'
import { noFaults } from '../soft-errors.ts'
import { schemeForConfig } from '../strategy.ts'
import { totalStepsOf } from '../schedule.ts'
import type { TrainerContext } from './context.ts'
import { trainerStatus } from './report.ts'
import { createClock, createPolicies, runRound } from './rounds.ts'
import { geometryOf, initialState, restoreState, snapshot } from './state.ts'
import { isDone, runStep, type StepPlan } from './step.ts'
import { faultTolerance, quarantineLimit } from './agree.ts'
import { moveTo } from './resync.ts'
import { TrainerError, type PeerTrainer, type PeerTrainerOptions } from './types.ts'
import { decodedWeights, decodeModelFrom } from './weights.ts'

export type { DecodeObservation, PeerTrainer, PeerTrainerOptions, TrainerObserver, UpdateObservation } from './types.ts'
export { StalledError, TrainerError } from './types.ts'
export type { StepReport, StepTiming, TrainerStatus } from './report.ts'
export { jobDigest } from './state.ts'
export { totalStepsOf } from '../schedule.ts'

export function createPeerTrainer (opts: PeerTrainerOptions): PeerTrainer {
  const { config, self, exchange, dataset } = opts
  const scheme = opts.scheme ?? schemeForConfig(config)
  const faults = opts.faults ?? noFaults()
  const P = config.peers
  if (exchange.peers !== P) throw new TrainerError(`the exchange has ${exchange.peers} peers, the config ${P}`)
  if (self !== exchange.self) throw new TrainerError(`trainer is peer ${self} but its exchange is peer ${exchange.self}`)
  if (dataset.inputSize !== config.model[0]) throw new TrainerError(`dataset inputs are ${dataset.inputSize} wide, the model expects ${config.model[0]}`)
  if (dataset.classes !== config.model[config.model.length - 1]) throw new TrainerError(`dataset has ${dataset.classes} classes, the model outputs ${config.model[config.model.length - 1]}`)

  const order = new BatchOrder(config.seed, dataset.train.count, config.batch)
  const totalSteps = totalStepsOf(config, order.stepsPerEpoch)
  const plan: StepPlan = { dataset, order, totalSteps, maxRollbacks: opts.maxConsecutiveRollbacks ?? 50, faultTolerance: faultTolerance(scheme), quarantineLimit: quarantineLimit(scheme, config.errorModel) }
  const geo = geometryOf(config, scheme)
  const state = initialState(config, scheme, self, geo)
  const clock = createClock()
  const policies = createPolicies({
    peers: P,
    scheme,
    timeoutMs: opts.timeoutMs ?? 30_000,
    graceMs: opts.graceMs,
    verdictGraceMs: opts.verdictGraceMs ?? 2_000
  })
  const ctx: TrainerContext = {
    config,
    self,
    scheme,
    geo,
    state,
    exchange,
    policies,
    clock,
    round: (key, payload, pol, to, reliable) => runRound(exchange, clock, key, payload, pol, to, reliable),
    inject: (site, data, layer, tag) => faults.inject(site, data, { peer: self, step: state.step, attempt: state.attempt, layer, tag }),
    observer: opts.observer,
    log: opts.log ?? (() => {})
  }

  return {
    self,
    scheme,
    totalSteps,
    stepsPerEpoch: order.stepsPerEpoch,
    get currentStep () { return state.step },
    get done () { return isDone(ctx, plan) },
    step: () => runStep(ctx, plan),
    checkpoint: () => cloneCheckpoint(snapshot(state)),
    verifiedCheckpoint: () => cloneCheckpoint(state.lastGood),
    restore: (c: Checkpoint) => { restoreState(state, c, geo); state.lastGood = cloneCheckpoint(c); state.lastGoodVerified = true },
    rejoin: (step: number, attempt = state.attempt) => {
      if (!Number.isInteger(step) || step < 0 || step > totalSteps) throw new TrainerError(`cannot rejoin at step ${step} of ${totalSteps}`)
      moveTo(ctx, { step, attempt })
    },
    decodedWeights: () => decodedWeights(ctx),
    decodeModelFrom: (shards: ReadonlyMap<number, readonly Matrix[]>) => decodeModelFrom(ctx, shards),
    shards: () => state.layers.map(l => l.shard),
    status: () => trainerStatus(state, totalSteps)
  }
}
