/**
 * Resync: a peer that finds the network elsewhere moves there. It happens when this peer
 * decided differently from the others (a lost vote), rolled back alone, was partitioned
 * away, restarted from an old checkpoint, or fell behind.
 *
 * The signal is failure: a peer whose step could not decode looks at where the others are —
 * the (attempt, step) of the newest product round heard from each since its own step began,
 * i.e. what they compute now — and, when at least half of them were heard and their median
 * position is not its own, moves there with its own (stale) state instead of voting, and
 * computes that step in the same call (step.ts): the others' results for it are in its inbox
 * if they went on, and if they are retrying it for want of results, this peer's arrive while
 * they still wait. (Moving to the step after it, as if they were sure to finish theirs, put
 * a mover one step ahead of a network that kept failing that step — for good.) A peer
 * whose rounds decode is where a quorum is and never moves on its own; so a minority cannot
 * pull the majority, and results of an abandoned attempt that arrive late pull nobody back.
 *
 * After a move the peer's own products are left out of its decodes (PeerState.distrustSelf),
 * it flags itself in every vote, the others' decoders flag its results, and the audit
 * rebuilds its shards from the healthy peers.
 */
import type { PeerPosition } from '../exchange.ts'
import { restoreState, snapshot } from './state.ts'
import type { TrainerContext } from './context.ts'

/** The furthest a peer moves forward in one resync (a restarted peer's rejoin is not bounded). */
export const RESYNC_WINDOW = 256

export interface Position {
  step: number
  attempt: number
}

/**
 * The median (attempt, step) of the others' newest product rounds heard since `since`: where
 * they are; null when fewer than half of them were heard.
 */
export function networkPosition (positions: ReadonlyArray<PeerPosition | null>, self: number, since: number, mine?: Position): Position | null {
  const ps: Position[] = positions.filter((p, i): p is PeerPosition => p !== null && i !== self && p.seq > since)
  if (ps.length === 0 || ps.length < Math.ceil((positions.length - 1) / 2)) return null
  // With this peer's own position counted, every peer of an evenly split network picks the
  // same side (the upper median), so the two halves do not swap places forever.
  if (mine !== undefined) ps.push(mine)
  ps.sort((a, b) => a.attempt - b.attempt || a.step - b.step)
  const mid = ps[Math.floor(ps.length / 2)]
  return { step: mid.step, attempt: mid.attempt }
}

/**
 * Whether the network's position says this peer must move. Not when it is here, and not when it
 * is one step ahead at this attempt: that is where speculation puts the others — they published
 * the next step's first round before this step's vote settled. The vote decides then (a
 * rollback brings them back here; going on flags this peer and its audit repairs it); moving
 * would leave this peer alone at a step the network may be about to abandon, and with it the
 * decodes of the rest one member short — at a high rollback rate, the start of a split that
 * never heals.
 */
export function isElsewhere (mine: Position, net: Position): boolean {
  if (net.attempt !== mine.attempt) return true
  return net.step !== mine.step && net.step !== mine.step + 1
}

/**
 * After this peer's step failed (heard counter `since` taken when it began): move to where
 * the others are, if that is elsewhere. Returns where it was and where it went, or null.
 */
export function resyncAfterFailure (ctx: TrainerContext, totalSteps: number, since: number): { from: Position, to: Position, verified?: boolean } | null {
  const { state, exchange } = ctx
  const mine = { step: state.step, attempt: state.attempt }
  // Where the others are now: heard since this step began; failing that, since this peer's
  // last rollback or move. The others may have published their step's first round before this
  // peer's step began and then failed it at once — a network short of results, waiting for this
  // peer, says nothing new while this peer waits for it — and that is still where they are.
  const positions = exchange.positions()
  const net = networkPosition(positions, ctx.self, Math.max(since, state.heardSince), mine) ??
    networkPosition(positions, ctx.self, state.heardSince, mine)
  if (net === null) return null
  // One step ahead at this attempt is where speculation puts the others — unless this peer holds
  // an unjudged state at their step (its candidate) and a rollback took it back further than
  // them: then the network is where that state already is, and waiting for a vote to bring it
  // back never ends (two groups one step apart, rolling back in lockstep at every attempt).
  const behindCandidate = state.candidate !== null && state.candidate.step > mine.step && net.step >= state.candidate.step
  if (!isElsewhere(mine, net) && !behindCandidate) return null
  if (rejoinVerified(ctx, mine, net)) return { from: mine, to: { step: state.step, attempt: state.attempt }, verified: true }
  if (rejoinCandidate(ctx, mine, net)) return { from: mine, to: { step: state.step, attempt: state.attempt } }
  // Never further ahead than RESYNC_WINDOW in one move: the median is sound with at most f
  // liars, and this bounds what more liars than that could do with one frame.
  const to = { step: Math.min(net.step, totalSteps, mine.step + RESYNC_WINDOW), attempt: net.attempt }
  moveTo(ctx, to)
  ctx.log(`peer ${ctx.self}: resync from ${mine.step}/${mine.attempt} to the network's ${to.step}/${to.attempt}: stale state, expecting repair`)
  return { from: mine, to }
}

/** How far behind the network a peer may restart from its verified checkpoint and catch up. */
export const CATCH_UP_STEPS = 16

/**
 * The split that a stale move cannot heal: peers that decided a step differently (a vote that
 * came late at some of them) end at different attempts — some rolled back to their last
 * verified checkpoint, some went on. Moving forward with stale state would leave every side
 * distrusting itself, each too small to decode or repair, chasing the others' rollbacks. So a
 * peer whose last checkpoint is verified and at most CATCH_UP_STEPS behind the network's step,
 * when the network is at a later attempt (it rolled back, this peer went on), restores that
 * checkpoint and takes the network's attempt instead: its state is then the agreed model at
 * that step, trusted, and the others' products of the steps in between, already in its inbox,
 * let it catch up at once. A peer at the same or a later attempt than the network (cut off
 * while the others went on, or rolled back alone) would only replay what it missed: it moves
 * forward as before.
 */
function rejoinVerified (ctx: TrainerContext, mine: Position, net: Position): boolean {
  const { state } = ctx
  const g = state.lastGood.step
  if (!state.lastGoodVerified || net.attempt <= mine.attempt || net.step < g || net.step - g > CATCH_UP_STEPS) return false
  restoreState(state, state.lastGood, ctx.geo)
  state.attempt = net.attempt
  state.pending = null
  state.distrustSelf = false
  state.heardSince = ctx.exchange.heard
  ctx.exchange.prune(g)
  ctx.log(`peer ${ctx.self}: resync from ${mine.step}/${mine.attempt} to its verified checkpoint ${g} at the network's attempt ${net.attempt} (the network at ${net.step}/${net.attempt})`)
  return true
}

/**
 * A peer whose last audit it could not judge (state.candidate) and whom a rollback then took
 * back to an older checkpoint than the others' — they verified that audit and returned to it —
 * finds the network at the candidate's step or a little beyond, at its own attempt or a later
 * one. Moving forward from the older state (stale by several steps) would leave
 * it wrong in every round; with the others short of its results at a code with little to
 * spare, each round fails and the rollbacks never end (soak seeds 921 and 1008). Its candidate
 * is, barring a fault, exactly the state they restored: it takes that at the network's
 * attempt and catches up from its inbox like a verified rejoin — but distrusted, flagging
 * itself, until an audit verifies or repairs it, since nobody checked that state at this peer.
 */
function rejoinCandidate (ctx: TrainerContext, mine: Position, net: Position): boolean {
  const { state } = ctx
  const c = state.candidate
  if (c === null || c.step <= mine.step || net.attempt < mine.attempt || net.step < c.step || net.step - c.step > CATCH_UP_STEPS) return false
  restoreState(state, c, ctx.geo)
  moveTo(ctx, { step: c.step, attempt: net.attempt })
  ctx.log(`peer ${ctx.self}: resync from ${mine.step}/${mine.attempt} to its unverified state at step ${c.step} at the network's attempt ${net.attempt} (the network at ${net.step}/${net.attempt}): expecting an audit`)
  return true
}

/** Take `to` with the current state, distrusted until repaired; it is what rollbacks return to. */
export function moveTo (ctx: TrainerContext, to: Position): void {
  const { state } = ctx
  state.step = to.step
  state.attempt = to.attempt
  state.pending = null
  state.distrustSelf = true
  state.lastGood = snapshot(state)
  state.lastGoodVerified = false
  state.heardSince = ctx.exchange.heard
  ctx.exchange.prune(to.step)
}
