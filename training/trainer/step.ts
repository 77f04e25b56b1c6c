/**
 * One call of `step()`, as the protocol orders it. Agreement costs no round of its own:
 *
 *   resync     when the others are elsewhere (resync.ts), move there first
 *   vote       this peer's vote on the previous step (computed and applied speculatively)
 *              is published together with this step's first product round
 *   decide     the quorum's decision on the previous step (agree.ts), before that first
 *              round is decoded:
 *                roll back  → restore the last verified checkpoint, attempt + 1; this call ends
 *                go on      → audit when someone was flagged or a checkpoint is due (audit.ts),
 *                             then checkpoint the verified state (the previous step's)
 *   compute    forward + backward of this step (compute.ts); a peer that could not decode a
 *              round applies no update and will vote so (and flag itself: it is stale)
 *   apply      the update, in place on the coded shards — speculatively: the next call's
 *              decision confirms it or rolls it back
 *
 * After the last step one more call only settles the last vote (`done` waits for it).
 */
import { batchOf, type Dataset } from '../dataset.ts'
import type { BatchOrder } from '../batches.ts'
import { stepVerdicts, type Verdict } from '../recovery.ts'
import { collectVotes, decideStep, publishVote, QUARANTINE_STEPS, rateLimit, ROLLBACKS_PER_CAUSE, type StepDecision } from './agree.ts'
import { audit } from './audit.ts'
import { applyUpdates, forwardBackward, type Passes } from './compute.ts'
import { roundKey, type TrainerContext } from './context.ts'
import { emptyReport, type StepReport } from './report.ts'
import { resyncAfterFailure } from './resync.ts'
import { restoreState, snapshot } from './state.ts'
import { StalledError, TrainerError } from './types.ts'

export interface StepPlan {
  dataset: Dataset
  order: BatchOrder
  totalSteps: number
  /** Rollbacks in a row without verifying a step beyond the furthest verified before training is declared stalled. */
  maxRollbacks: number
  /** f of the quorum rule (agree.ts). */
  faultTolerance: number
  /** The most suspects a rate-limited cause may put in quarantine (agree.ts quarantineLimit). */
  quarantineLimit: number
}

/** Training is over once every step ran and the last one's agreement is settled. */
export const isDone = (ctx: TrainerContext, plan: StepPlan): boolean => ctx.state.step >= plan.totalSteps && ctx.state.pending === null

export async function runStep (ctx: TrainerContext, plan: StepPlan): Promise<StepReport> {
  const { state, clock } = ctx
  if (isDone(ctx, plan)) throw new TrainerError(`training is done (${plan.totalSteps} steps)`)
  clock.reset()
  const report = emptyReport(state.step, state.attempt, ctx.config.batch, clock.timing)
  const began = ctx.exchange.heard

  const pending = state.pending
  const votesKey = pending === null ? null : { step: pending.step, layer: -1, phase: 'vote', attempt: pending.attempt }
  if (votesKey !== null && pending !== null) await publishVote(ctx, votesKey, pending.vote, stepVerdicts(ctx.geo.peers))

  // The previous step's agreement, taken between publishing and collecting this step's first round.
  let rolledBack = false
  const settle = async (): Promise<boolean> => {
    if (votesKey === null || pending === null) return true
    const votes = await collectVotes(ctx, votesKey, null, stepVerdicts(ctx.geo.peers))
    const d = decideStep(votes, plan.faultTolerance, ctx.geo.peers)
    recordDecision(report, pending.step, d)
    state.pending = null
    if (d.rollback) {
      const q = rateLimit(state.rollbackCauses, d.suspects, pending.step, plan.quarantineLimit)
      rollback(ctx, report, plan.maxRollbacks)
      if (q !== null) {
        state.quarantine = { peers: q, untilStep: state.step + QUARANTINE_STEPS }
        report.quarantined = [...q].sort((a, b) => a - b)
        ctx.log(`peer ${ctx.self}: peers ${report.quarantined.join(',')} forced ${ROLLBACKS_PER_CAUSE} rollbacks: their results are left out until step ${state.quarantine.untilStep}`)
      }
      rolledBack = true
      return false
    }
    if (!pending.applied) state.distrustSelf = true
    if (!(await confirm(ctx, report, d, pending.step))) { rollback(ctx, report, plan.maxRollbacks); rolledBack = true; return false }
    return true
  }

  if (state.step >= plan.totalSteps) {
    // Nothing left to compute: only the last step's agreement.
    await settle()
    report.timing = { ...clock.timing }
    return report
  }
  const batch = (): ReturnType<typeof batchOf> => batchOf(plan.dataset.train, plan.dataset.inputSize, plan.order.indices(state.step))
  const { x, labels } = batch()
  report.step = state.step
  report.attempt = state.attempt
  let pass = await forwardBackward(ctx, x, labels, settle)
  if (pass === null || rolledBack) { report.timing = { ...clock.timing }; return report }
  if (pass.uncorrectable > 0) {
    // A step that could not decode: is the network elsewhere? Then go there instead of voting,
    // and compute the step it is computing now, at once: waiting a call would put this peer a
    // step behind a network that goes on, or leave a network that keeps retrying its step for
    // want of results one member short at every attempt (resync.ts).
    const moved = resyncAfterFailure(ctx, plan.totalSteps, began)
    if (moved !== null) {
      report.resynced = moved
      if (state.step >= plan.totalSteps) { report.timing = { ...clock.timing }; return report }
      const b = batch()
      report.step = state.step
      report.attempt = state.attempt
      pass = await forwardBackward(ctx, b.x, b.labels)
      if (pass === null) { report.timing = { ...clock.timing }; return report }
    }
  }
  computeAndApply(ctx, plan, report, pass)
  report.timing = { ...clock.timing }
  return report
}

function recordDecision (report: StepReport, step: number, d: StepDecision): void {
  report.decided = step
  report.agreed = { rollback: d.rollback, flagged: [...d.flagged].sort((a, b) => a - b) }
  report.contradicted = [...d.contradicted].sort((a, b) => a - b)
}

/** The step went on: audit if needed, then checkpoint the verified state. False: the audit could not decide (roll back). */
async function confirm (ctx: TrainerContext, report: StepReport, d: StepDecision, step: number): Promise<boolean> {
  const { state, config } = ctx
  const checkpointDue = (step + 1) % config.checkpointEvery === 0
  if (d.flagged.size > 0 || checkpointDue) {
    const a = await audit(ctx, d.selfFlagged)
    if (a === 'no-quorum' || a === 'inconclusive') {
      // The audit could not decide for want of participants: too few voters (the others did
      // not audit here — the flag that made this peer audit reached them after their vote
      // closed — or this peer is cut off), or too few sketches to judge with. Rolling back
      // alone would put this peer at an attempt nobody else is at and split the network; it
      // goes on with the others instead, unverified (no checkpoint), and whoever was flagged
      // stays so — a stale peer flags itself again, wrong results are flagged again — so a
      // later audit with every member (at the latest the next checkpoint's, which every peer
      // holds at the same step) judges it. Every peer treats both cases alike, so those that
      // audited and those that did not stay together. Nothing is accepted meanwhile that the
      // decoders did not check.
      ctx.log(`peer ${ctx.self} step ${state.step}/${state.attempt}: audit ${a === 'no-quorum' ? 'drew too few voters' : 'inconclusive (sketches missing)'}; going on unverified${state.distrustSelf ? ', flagging itself' : ''}`)
      report.auditInconclusive = true
      state.candidate = snapshot(state)
      return true
    }
    report.audited = true
    if (a === null) return false
    report.repaired = a.repaired
    report.repairedSelf = a.self
    if (a.self) state.repairs++
    // Trusted again once repaired, or once an audit found this peer's state on the code word.
    if (a.self || !a.repaired.includes(ctx.self)) state.distrustSelf = false
  }
  // Every audit that passed (after its repairs) leaves a verified state: checkpoint it, so at
  // high fault rates (audits nearly every step) a rollback loses little work.
  if (report.audited) {
    if (state.step > state.furthestVerified) { state.consecutiveRollbacks = 0; state.furthestVerified = state.step }
    state.lastGood = snapshot(state)
    state.lastGoodVerified = true
    if (state.candidate !== null && state.candidate.step <= state.step) state.candidate = null
    report.checkpointed = state.step
    ctx.exchange.prune(state.step)
  }
  return true
}

/** This step's outcome at this peer: the update (when every round decoded) and the vote on it. */
function computeAndApply (ctx: TrainerContext, plan: StepPlan, report: StepReport, pass: Passes): void {
  const { state, self } = ctx
  const applied = pass.uncorrectable === 0
  report.computed = true
  report.applied = applied
  report.loss = pass.loss
  report.correct = pass.correct
  report.flagged = [...pass.flagged].sort((a, b) => a - b)
  report.uncorrectable = pass.uncorrectable
  const vote: Verdict = { uncorrectable: !applied, flagged: new Set(pass.flagged) }
  if (applied) {
    for (let l = 0; l < ctx.geo.L; l++) ctx.observer?.updated?.({ peer: self, step: state.step, attempt: state.attempt, layer: l, delta: pass.deltas[l], x: pass.A[l] })
    applyUpdates(ctx, pass.deltas, pass.A, plan.totalSteps)
    state.lastLoss = pass.loss
  }
  // Without an update (or after a resync) this peer's state is stale if the network goes on:
  // it says so, and the quorum audits it.
  if (!applied || state.distrustSelf) vote.flagged.add(self)
  lieIfFaulty(ctx, vote)
  state.pending = { step: state.step, attempt: state.attempt, vote, applied, loss: pass.loss }
  state.step++
}

/**
 * The 'verdict' fault site: a lying voter claims the opposite of what its decoders found and
 * accuses a peer it has no evidence against (the next one).
 */
export function lieIfFaulty (ctx: TrainerContext, vote: Verdict): void {
  if (!ctx.inject('verdict', new Float64Array(1), -1)) return
  vote.uncorrectable = !vote.uncorrectable
  vote.flagged.add((ctx.self + 1) % ctx.geo.peers)
}

/** Restore the last verified checkpoint and replay from there with attempt + 1. */
function rollback (ctx: TrainerContext, report: StepReport, maxRollbacks: number): void {
  const { state } = ctx
  restoreState(state, state.lastGood, ctx.geo)
  state.attempt++
  state.rollbacks++
  state.pending = null
  state.heardSince = ctx.exchange.heard
  report.outcome = 'rolled-back'
  report.rolledBackTo = state.lastGood.step
  if (++state.consecutiveRollbacks > maxRollbacks) throw new StalledError(`${state.consecutiveRollbacks} rollbacks in a row to step ${state.lastGood.step}: training makes no progress at this fault rate`)
  ctx.exchange.prune(state.lastGood.step)
  ctx.log(`peer ${ctx.self}: rolled back from step ${report.decided ?? report.step} to ${state.lastGood.step}`)
}

export { roundKey }
