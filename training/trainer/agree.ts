/**
 * Agreement by quorum, tolerating f = ⌊(P − Q)/2⌋ faulty voters (Q the larger recovery
 * threshold): as many wrong results as the code corrects in the adversarial sense.
 *
 * Every peer publishes its vote once (no echo round) and decides on the votes it collected:
 *   - roll back iff at least f + 1 voters could not decode (a lone dissenter — a lying voter,
 *     or an honest peer that saw too few results — cannot force a rollback);
 *   - peer x is flagged iff at least f + 1 voters flagged it, or x flagged itself (a peer that
 *     knows its own state is stale says so; believing it costs at most an audit);
 *   - a voter that said "could not decode" while the quorum went on contradicts the quorum:
 *     it is flagged too — it is either stale (it applied no update: the audit repairs it) or
 *     lying (the audit finds its shards fine), and counted in `contradicted` either way.
 * With f = 0 (no redundancy to spare: uncoded, or P − Q < 2) every single vote counts, the
 * union rule. Peers that collected different votes (lost messages) can decide differently;
 * they then find themselves at other positions than the network and resync (resync.ts),
 * which is how message loss is absorbed: never by an exception.
 */
import { type CodeScheme, worstCorrectable } from '../../codes/scheme.ts'
import type { AuditVerdict, Verdict, VerdictCodec } from '../recovery.ts'
import { emptyAuditVerdict } from '../recovery.ts'
import type { RoundKey } from '../exchange.ts'
import type { TrainerContext } from './context.ts'

/** f = ⌊(P − Q)/2⌋: how many faulty voters the quorum rule tolerates. */
export function faultTolerance (scheme: CodeScheme): number {
  const q = Math.max(scheme.recoveryThreshold.forward, scheme.recoveryThreshold.backward)
  return Math.max(0, Math.floor((scheme.peers - q) / 2))
}

/**
 * The most peers a quarantine may leave out: their results become erasures, and the rest must
 * still correct one wrong result in every phase, or the next soft error among them is a
 * rollback nobody can repair (the quarantined copy was the tie-break). Replication with r = 3
 * leaves a block with two copies once one is out: they detect but cannot correct, so it never
 * quarantines. At most f.
 */
export function quarantineLimit (scheme: CodeScheme, mode: 'probabilistic' | 'adversarial'): number {
  let k = faultTolerance(scheme)
  while (k > 0 && worstCorrectable(scheme, scheme.peers - k)[mode] < 1) k--
  return k
}

export interface StepDecision {
  rollback: boolean
  /** Peers that f + 1 of the voters who could not decode suspected: the rollback's cause. */
  suspects: Set<number>
  /** Peers whose state is to be audited (flagged by f + 1 voters, by themselves, or contradicting the quorum). */
  flagged: Set<number>
  /** Voters that said "could not decode" while the quorum went on. */
  contradicted: Set<number>
  /** Peers that flagged themselves (their state is stale, by their own account). */
  selfFlagged: Set<number>
  /** Votes the decision rests on. */
  voters: number
}

/** A decision needs votes from a strict majority of the P peers: a peer cut off from the others decides nothing alone. */
export const hasQuorum = (votes: ReadonlyMap<number, unknown>, peers: number): boolean => 2 * votes.size > peers

/**
 * The quorum's decision on a step from the votes collected (sender → vote). Without votes
 * from a strict majority of the peers there is no quorum: the step is not confirmed (it rolls
 * back, and a peer that was cut off resyncs once it hears the others again).
 */
export function decideStep (votes: ReadonlyMap<number, Verdict>, f: number, peers: number): StepDecision {
  let rollbackVotes = 0
  const accusations = new Map<number, number>()
  const flagged = new Set<number>()
  const selfFlagged = new Set<number>()
  for (const [voter, v] of votes) {
    if (v.uncorrectable) rollbackVotes++
    for (const x of v.flagged) {
      if (x === voter) { flagged.add(x); selfFlagged.add(x) }
      else accusations.set(x, (accusations.get(x) ?? 0) + 1)
    }
  }
  for (const [x, n] of accusations) if (n >= f + 1) flagged.add(x)
  const rollback = rollbackVotes >= f + 1 || !hasQuorum(votes, peers)
  const suspicion = new Map<number, number>()
  for (const [voter, v] of votes) if (v.uncorrectable) for (const x of v.flagged) if (x !== voter) suspicion.set(x, (suspicion.get(x) ?? 0) + 1)
  const suspects = new Set([...suspicion].filter(([, n]) => n >= f + 1).map(([x]) => x))
  const contradicted = new Set<number>()
  if (!rollback) for (const [voter, v] of votes) if (v.uncorrectable) { contradicted.add(voter); flagged.add(voter) }
  return { rollback, suspects, flagged, contradicted, selfFlagged, voters: votes.size }
}

/** Rollbacks one cause may force within ROLLBACK_WINDOW steps before its peers are quarantined. */
export const ROLLBACKS_PER_CAUSE = 3
export const ROLLBACK_WINDOW = 20
/** Steps a quarantine lasts: the suspects' results are erasures meanwhile, their state is audited. */
export const QUARANTINE_STEPS = 20

/**
 * Rate-limits rollbacks per cause: records this rollback against its cause (the suspects),
 * and when the same suspects have forced ROLLBACKS_PER_CAUSE rollbacks within the window,
 * returns them to quarantine (every peer decides alike: the votes are the same). A rollback
 * without suspects (nobody to blame: lost results), or with more than `limit` (quarantineLimit:
 * then it is not a few faulty peers, and leaving them out would leave too few to correct), is
 * not limited; the stall limit remains.
 */
export function rateLimit (causes: Map<string, number[]>, suspects: ReadonlySet<number>, step: number, limit: number): Set<number> | null {
  if (suspects.size === 0 || suspects.size > limit) return null
  const cause = [...suspects].sort((a, b) => a - b).join(',')
  const recent = (causes.get(cause) ?? []).filter(s => s > step - ROLLBACK_WINDOW)
  recent.push(step)
  causes.set(cause, recent)
  if (recent.length < ROLLBACKS_PER_CAUSE) return null
  causes.delete(cause)
  return new Set(suspects)
}

/**
 * The quorum's decision on an audit: a part is repaired when f + 1 voters (or its owner) name
 * it. It is undecidable when f + 1 voters could not judge some part; `short` when fewer than
 * f + 1 of them had every member's sketch in hand — more sketches might have decided it, so
 * the audit is inconclusive (nothing repaired or verified), not grounds for a rollback. That
 * is what keeps one late vote from splitting the peers: peers that audited without the ones
 * that did not (the self-flag that made them audit came too late there) go on with them.
 */
export function decideAudit (votes: ReadonlyMap<number, AuditVerdict>, f: number, layers: number, peers: number): AuditVerdict {
  const out = emptyAuditVerdict(layers)
  // Without a quorum of voters nothing is verified.
  if (!hasQuorum(votes, peers)) { out.uncorrectable = true; return out }
  let undecidable = 0
  let undecidableFull = 0
  const count = (into: Set<number>, sets: Array<{ voter: number, set: ReadonlySet<number> }>): void => {
    const n = new Map<number, number>()
    for (const { voter, set } of sets) {
      for (const x of set) {
        if (x === voter) into.add(x)
        else n.set(x, (n.get(x) ?? 0) + 1)
      }
    }
    for (const [x, k] of n) if (k >= f + 1) into.add(x)
  }
  for (const v of votes.values()) if (v.uncorrectable) { undecidable++; if (!v.short) undecidableFull++ }
  out.uncorrectable = undecidable >= f + 1
  out.short = out.uncorrectable && undecidableFull < f + 1
  for (let l = 0; l < layers; l++) count(out.shards[l], [...votes].map(([voter, v]) => ({ voter, set: v.shards[l] })))
  count(out.biases, [...votes].map(([voter, v]) => ({ voter, set: v.biases })))
  return out
}

/** Publish a vote (reliably: agreement traffic must not be lost in transit). */
export async function publishVote<V> (ctx: TrainerContext, key: RoundKey, vote: V, codec: VerdictCodec<V>): Promise<void> {
  await ctx.exchange.publish(key, codec.encode(vote), undefined, { reliable: true })
}

/** Publish this peer's vote for `key` (unless already published: `mine` null) and collect the others' (malformed ones dropped). */
export async function collectVotes<V> (ctx: TrainerContext, key: RoundKey, mine: V | null, codec: VerdictCodec<V>): Promise<Map<number, V>> {
  if (mine !== null) await publishVote(ctx, key, mine, codec)
  const c = await ctx.round(key, null, ctx.policies.verdict())
  const out = new Map<number, V>()
  for (const [p, mtx] of c.results) {
    const d = codec.decode(mtx)
    if (d !== null) out.set(p, d)
  }
  return out
}
