/**
 * Shard audit + repair. Every peer publishes a sketch [W~_l·r_l; V~_l·r_l] of every layer
 * (r_l a shared seeded vector) and its replicated biases; each peer judges them alike,
 * the peers agree on a verdict (by quorum, agree.ts), healthy peers send their shards of the
 * layers where someone is bad (round 'shard'), and a bad peer rebuilds its own with
 * `repairShard` and takes the majority's biases.
 *
 * Judged per layer, per part (W~, V~, bias, bias velocity), each on its own scale, first at
 * the rounding level (CLEAN_FRACTION of the decoders' tolerance) so drift is repaired before
 * decoders could misjudge it; when errors of several sizes make that level undecidable,
 * again at looser levels up to the decoders' own tolerance. Only a part undecidable even
 * there — something the decoders would stumble on — rolls back.
 */
import { type Matrix, zeros } from '../../codes/matrix.ts'
import type { ShardCheck } from '../../codes/scheme.ts'
import { CLEAN_FRACTION } from '../../codes/decode.ts'
import { AUDIT_PHASES, type Collected } from '../exchange.ts'
import {
  type AuditVerdict, auditVector, auditVerdicts, emptyAuditVerdict, majorityCopy, matVecInto, relativeDistance
} from '../recovery.ts'
import { collectVotes, decideAudit, faultTolerance, hasQuorum } from './agree.ts'
import { roundKey, type TrainerContext } from './context.ts'

export interface AuditOutcome {
  /** Peers whose shards or biases were repaired (agreed, ascending). */
  repaired: number[]
  /** Whether this peer's own state was rebuilt. */
  self: boolean
}

/** Levels an audit judges at: CLEAN_FRACTION of a tolerance, up to the tolerance itself. */
const ladder = (tol: number): number[] => [CLEAN_FRACTION * tol, Math.sqrt(CLEAN_FRACTION) * tol, tol]

/** Re-audits after a repair before the state counts as verified (a repair can go wrong too). */
const MAX_AUDIT_PASSES = 3

/**
 * Audit, repair what the quorum names, and audit again until a pass repairs nothing. Returns
 * every peer repaired, or null when an audit with every member's sketch in hand could not
 * tell healthy state from bad, or repairs did not make the state consistent (the caller rolls
 * back), or 'no-quorum' when too few peers voted on it (the network did not audit here —
 * this peer alone decided to — or this peer is cut off) and this peer saw no evidence of a
 * fault beyond the peers that flagged themselves, or 'inconclusive' when the quorum could
 * not decide for want of sketches. On both the caller goes on, unverified, and whoever was
 * flagged is audited again.
 */
export async function audit (ctx: TrainerContext, stale: ReadonlySet<number> = new Set()): Promise<AuditOutcome | null | 'no-quorum' | 'inconclusive'> {
  const repaired = new Set<number>()
  let self = false
  for (let pass = 0; pass < MAX_AUDIT_PASSES; pass++) {
    const a = await auditOnce(ctx, pass, stale)
    if (a === null || a === 'no-quorum' || a === 'inconclusive') return a
    for (const p of a.repaired) repaired.add(p)
    self ||= a.self
    if (a.repaired.length === 0) return { repaired: [...repaired].sort((x, y) => x - y), self }
  }
  ctx.log(`peer ${ctx.self} step ${ctx.state.step}/${ctx.state.attempt} audit: still inconsistent after ${MAX_AUDIT_PASSES} repairs`)
  return null
}

/** One audit pass (its rounds keyed by `pass`): sketch → judge → agree → repair. */
/** `stale`: peers that flagged themselves (the step's agreed decision): their disagreement is no evidence against the others. */
async function auditOnce (ctx: TrainerContext, pass: number, stale: ReadonlySet<number>): Promise<AuditOutcome | null | 'no-quorum' | 'inconclusive'> {
  const { geo, state } = ctx
  // Sketch of every layer's [W~; V~]·r, then every bias and bias velocity, in one column, then
  // the salt the vectors r were drawn with.
  const sketchLen = geo.padded.reduce((s, p) => s + 2 * (p.rows / geo.m), 0)
  const biasLen = geo.shapes.reduce((s, sh) => s + 2 * sh.rows, 0)
  const payload = zeros(sketchLen + biasLen + 1, 1)
  let off = 0
  for (let l = 0; l < geo.L; l++) {
    const { shard, velocity } = state.layers[l]
    const r = auditVector(ctx.config.seed, state.step, state.attempt, l, shard.cols, state.auditSalt + pass)
    matVecInto(shard, r, payload.data, off); off += shard.rows
    matVecInto(velocity, r, payload.data, off); off += shard.rows
  }
  for (const st of state.layers) { payload.data.set(st.bias, off); off += st.bias.length; payload.data.set(st.biasVelocity, off); off += st.bias.length }
  ctx.inject('sketch', payload.data.subarray(0, off), -1 - pass)
  payload.data[off] = state.auditSalt
  const c = await ctx.round(roundKey(ctx, -1 - pass, AUDIT_PHASES.sketch), payload, ctx.policies.audit(), undefined, true)

  const { verdict, biasRef, salt } = judge(ctx, c, sketchLen, biasLen, stale)
  // A peer that could not decode the step's first product drew its vectors with an old salt:
  // the others named it (its sketch cannot be judged); once repaired it audits with theirs.
  state.auditSalt = salt
  // The 'verdict' fault site: a lying voter calls the audit undecidable and accuses an innocent peer.
  if (ctx.inject('verdict', new Float64Array(1), -1 - pass, 'audit')) {
    verdict.uncorrectable = !verdict.uncorrectable
    verdict.shards[0].add((ctx.self + 1) % geo.peers)
  }
  // Agree on whom to repair, by quorum (agree.ts): a part is rebuilt when f + 1 peers, or its
  // owner, name it; a lone liar can neither force a repair nor an undecidable audit.
  const votes = await collectVotes(ctx, roundKey(ctx, -1 - pass, AUDIT_PHASES.votes), verdict, auditVerdicts(geo.peers, geo.L))
  if (!hasQuorum(votes, geo.peers)) {
    // Nobody to agree with: go on (the caller) when this peer's own judgement found nothing
    // against the peers that did not flag themselves, or its own state is the stale one;
    // with evidence of a fault in hand it rolls back rather than carry it on.
    const accused = [...verdict.shards.flatMap(s => [...s]), ...verdict.biases].some(p => !stale.has(p))
    return state.distrustSelf || ((!verdict.uncorrectable || verdict.short) && !accused) ? 'no-quorum' : null
  }
  const agreed = decideAudit(votes, faultTolerance(ctx.scheme), geo.L, geo.peers)
  if (agreed.uncorrectable) return agreed.short ? 'inconclusive' : null
  return await repair(ctx, agreed, biasRef, pass)
}

/** This peer's verdict on the collected sketches, and the majority's biases (what a bad peer takes). */
function judge (ctx: TrainerContext, c: Collected, sketchLen: number, biasLen: number, stale: ReadonlySet<number>): { verdict: AuditVerdict, biasRef: Float64Array | null, salt: number } {
  const { scheme, geo, state, self } = ctx
  const { L, m } = geo
  const tolOf = (ph: 'forward' | 'backward' | 'shard'): number => scheme.tolerance?.(ph) ?? 1e-9
  const auditLadder = ladder(tolOf('shard'))
  const stateLadder = ladder(Math.min(tolOf('forward'), tolOf('backward')))
  const where = `peer ${self} step ${state.step}/${state.attempt} audit`
  // A check that throws (shapes the code refuses) judges nothing: undecidable.
  const checkAt = (shards: ReadonlyMap<number, Matrix>, tol: number): ShardCheck => ctx.clock.timed('decodeMs', () => {
    try { return scheme.checkShards(shards, { tolerance: tol, mode: ctx.config.errorModel }) } catch { return { consistent: false, faulty: [], decidable: false } }
  })

  const sketches = new Map<number, Float64Array>()
  const biases = new Map<number, Float64Array>()
  const salts = new Map<number, number>()
  for (const [p, mt] of c.results) {
    if (mt.rows !== sketchLen + biasLen + 1 || mt.cols !== 1) continue
    sketches.set(p, mt.data.subarray(0, sketchLen))
    biases.set(p, mt.data.subarray(sketchLen, sketchLen + biasLen))
    salts.set(p, mt.data[sketchLen + biasLen])
  }
  const verdict = emptyAuditVerdict(L)
  let evidence = false
  // A malformed sketch condemns all of the sender's state.
  for (const p of c.results.keys()) {
    if (!sketches.has(p)) { for (let l = 0; l < L; l++) verdict.shards[l].add(p); verdict.biases.add(p) }
  }
  // The salt of the sketches: the one a strict majority of them was drawn with (every peer that
  // decoded the step's first product has the same), else this peer's own. A sketch drawn with
  // another cannot be compared: its sender's shards are named (a peer that could not decode has
  // a stale state anyway) and the shard checks go on without it. Biases need no salt.
  const salt = referenceSalt(salts, state.auditSalt)
  for (const [p, s] of salts) {
    if (s === salt) continue
    sketches.delete(p)
    for (let l = 0; l < L; l++) verdict.shards[l].add(p)
  }
  let soff = 0
  for (let l = 0; l < L; l++) {
    const rows = geo.padded[l].rows / m
    for (let part = 0; part < 2; part++, soff += rows) {
      const slice = new Map<number, Matrix>()
      for (const [p, sk] of sketches) slice.set(p, { rows, cols: 1, data: sk.subarray(soff, soff + rows) })
      let check: ShardCheck = { consistent: false, faulty: [], decidable: false }
      for (const tol of auditLadder) {
        check = checkAt(slice, tol)
        if (check.decidable || check.consistent) break
      }
      for (const f of check.faulty) verdict.shards[l].add(f)
      // A coded scheme's audit with too few sketches is undecidable, never "consistent"; the
      // uncoded baseline has no redundancy to judge with at all.
      if (!check.decidable && !check.consistent && scheme.kind !== 'uncoded') {
        verdict.uncorrectable = true
        // Evidence of a fault: the sketches of the peers that did not flag themselves, enough
        // of them to be checked (more than m·n), are off one code word.
        const others = new Map([...slice].filter(([p]) => !stale.has(p)))
        if (others.size > m * geo.n && !checkAt(others, auditLadder[auditLadder.length - 1]).consistent) evidence = true
        ctx.log(`${where}: layer ${l} ${part === 0 ? 'weights' : 'velocity'} undecidable (suspects ${check.faulty.join(',')})`)
      }
    }
  }
  // Replicated state: the copy a strict majority holds is the reference (null: some part has none).
  let biasRef: Float64Array | null = new Float64Array(biasLen)
  let boff = 0
  for (let l = 0; l < L; l++) {
    const rows = geo.shapes[l].rows
    for (let part = 0; part < 2; part++, boff += rows) {
      const slice = new Map<number, Float64Array>()
      for (const [p, b] of biases) slice.set(p, b.subarray(boff, boff + rows))
      if (slice.size === 0) { biasRef = null; continue }
      let ref: Float64Array | null = null
      let tol = 0
      for (tol of stateLadder) { ref = majorityCopy(slice, geo.peers, tol); if (ref !== null) break }
      if (ref === null) {
        verdict.uncorrectable = true
        biasRef = null
        // Evidence of a fault: copies of peers that did not flag themselves disagree.
        const others = [...slice].filter(([p]) => !stale.has(p)).map(([, b]) => b)
        if (others.some(b => relativeDistance(b, others[0]) > tol)) evidence = true
        ctx.log(`${where}: no majority copy of layer ${l} ${part === 0 ? 'bias' : 'bias velocity'}`)
        continue
      }
      biasRef?.set(ref, boff)
      for (const [p, b] of slice) if (relativeDistance(b, ref) > tol) verdict.biases.add(p)
    }
  }
  // Undecidable with some member's sketch missing and no evidence against the peers that did
  // not flag themselves: more sketches might have decided it (inconclusive, not a rollback).
  verdict.short = verdict.uncorrectable && c.results.size < geo.peers && !evidence
  return { verdict, biasRef, salt }
}

/** The salt more than half the sketches carry, or `own` when none does. */
export function referenceSalt (salts: ReadonlyMap<number, number>, own: number): number {
  const count = new Map<number, number>()
  for (const s of salts.values()) count.set(s, (count.get(s) ?? 0) + 1)
  for (const [s, n] of count) if (2 * n > salts.size) return s
  return own
}

const ascending = (s: Iterable<number>): number[] => [...s].sort((a, b) => a - b)

/** Rebuild what the agreed verdict names: shards layer by layer from the healthy peers, biases from the majority. */
async function repair (ctx: TrainerContext, agreed: AuditVerdict, biasRef: Float64Array | null, pass: number): Promise<AuditOutcome | null> {
  const { scheme, geo, state, self } = ctx
  const { L, m, n, peers: P } = geo
  const badIn = agreed.shards.map(ascending)
  const targets = ascending(new Set([...badIn.flat(), ...agreed.biases]))
  if (targets.length === 0) return { repaired: [], self: false }
  for (let l = 0; l < L; l++) {
    if (badIn[l].length > P - m * n) { ctx.log(`peer ${self} step ${state.step}/${state.attempt} audit: ${badIn[l].length} bad shards of layer ${l}, too many to repair`); return null }
  }
  let fixedSelf = false
  for (let l = 0; l < L; l++) {
    if (badIn[l].length === 0) continue
    const st = state.layers[l]
    const bad = new Set(badIn[l])
    const amTarget = bad.has(self)
    const stacked = amTarget ? null : { rows: 2 * st.shard.rows, cols: st.shard.cols, data: concat(st.shard.data, st.velocity.data) }
    const sc = await ctx.round({ ...roundKey(ctx, l, AUDIT_PHASES.shard), phase: pass === 0 ? AUDIT_PHASES.shard : `${AUDIT_PHASES.shard}-${pass}` }, stacked, ctx.policies.shard(amTarget, bad.size), badIn[l], true)
    if (!amTarget) continue
    const healthy = new Map([...sc.results].filter(([p]) => !bad.has(p)))
    try {
      const rebuilt = ctx.clock.timed('decodeMs', () => scheme.repairShard(healthy, self, { mode: ctx.config.errorModel }))
      const half = st.shard.data.length
      if (rebuilt.data.length !== 2 * half) throw new Error('repaired shard has the wrong size')
      st.shard.data.set(rebuilt.data.subarray(0, half))
      st.velocity.data.set(rebuilt.data.subarray(half))
      ctx.inject('repair', st.shard.data, l, `pass ${pass}`)
      fixedSelf = true
    } catch (err) {
      ctx.log(`peer ${self} step ${state.step}: could not repair layer ${l}: ${(err as Error).message}`)
    }
  }
  if (agreed.biases.has(self)) {
    // Replicated state: take the majority's copy — only a copy this peer saw a majority hold.
    if (biasRef === null) {
      ctx.log(`peer ${self} step ${state.step}: could not repair its biases: no majority copy in hand`)
    } else {
      let o = 0
      for (const st of state.layers) { st.bias.set(biasRef.subarray(o, o + st.bias.length)); o += st.bias.length; st.biasVelocity.set(biasRef.subarray(o, o + st.bias.length)); o += st.bias.length }
      ctx.inject('repair', state.layers[0].bias, -1, `biases pass ${pass}`)
      fixedSelf = true
    }
  }
  return { repaired: targets, self: fixedSelf }
}

function concat (a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length)
  out.set(a); out.set(b, a.length)
  return out
}
