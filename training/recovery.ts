/**
 * Recovery helpers, pure and I/O-free: the verdicts peers exchange to agree on rollbacks
 * and repairs (and their wire encoding), the seeded sketch vectors of the shard audit, and
 * the majority copy that repairs replicated state (biases).
 *
 * How the peers decide on the verdicts they collected (by quorum, tolerating f liars) is
 * training/trainer/agree.ts.
 */
import { type Matrix, zeros } from '../codes/matrix.ts'
import { createRng } from './rng.ts'

/** A step's verdict. */
export interface Verdict {
  /** Some peer could not decode a round of this step: roll back. */
  uncorrectable: boolean
  /** Peers whose results were found wrong. */
  flagged: Set<number>
}

/** An audit's verdict: whose state is wrong, part by part, so each part is rebuilt from the peers healthy in it. */
export interface AuditVerdict {
  /** Some part of the state could not be judged. */
  uncorrectable: boolean
  /**
   * With `uncorrectable`: some member's sketch was not in hand, so more sketches might have
   * decided it (members that did not audit at this step, or were late). Such an audit is
   * inconclusive — nothing repaired, nothing verified — not a reason to roll back.
   */
  short: boolean
  /** Per layer l: peers whose layer-l shard (W~_l or V~_l) is off the code word. */
  shards: Array<Set<number>>
  /** Peers whose replicated biases (or bias velocities) are not the majority's. */
  biases: Set<number>
}

/** How one kind of verdict goes on the wire and how verdicts combine. */
export interface VerdictCodec<V> {
  encode (v: V): Matrix
  /** A malformed payload (wrong size, non-0/1 values) yields null. */
  decode (m: Matrix): V | null
  union (vs: Iterable<V>): V
}

/*
 * Wire layout of every verdict: a 1 × (F + G·P) matrix of 0/1, F leading flags then G groups,
 *   [flags…, group 0: peers 0…P−1, group 1: peers 0…P−1, …]
 * A step verdict has one flag (uncorrectable) and one group (flagged). An audit verdict has
 * two flags (uncorrectable, short) and L + 1 groups: the shards of layers 0…L−1, then the
 * biases — entry 2 + l·P + p is peer p's layer-l shard, 2 + L·P + p its biases.
 */

function encodeGroups (flags: readonly boolean[], groups: ReadonlyArray<ReadonlySet<number>>, peers: number): Matrix {
  const F = flags.length
  const m = zeros(1, F + groups.length * peers)
  flags.forEach((f, i) => { m.data[i] = f ? 1 : 0 })
  groups.forEach((g, i) => { for (const p of g) if (p >= 0 && p < peers) m.data[F + i * peers + p] = 1 })
  return m
}

function decodeGroups (m: Matrix, peers: number, F: number, groups: number): { flags: boolean[], groups: Array<Set<number>> } | null {
  if (m.rows !== 1 || m.cols !== F + groups * peers) return null
  for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0 && m.data[i] !== 1) return null
  const out: Array<Set<number>> = []
  for (let g = 0; g < groups; g++) {
    const s = new Set<number>()
    for (let p = 0; p < peers; p++) if (m.data[F + g * peers + p] === 1) s.add(p)
    out.push(s)
  }
  return { flags: Array.from(m.data.subarray(0, F), x => x === 1), groups: out }
}

function unionInto (into: Set<number>, from: Iterable<number>): void {
  for (const p of from) into.add(p)
}

/** [uncorrectable, flagged_0 … flagged_{P−1}] as a 1 × (P+1) matrix. */
export function encodeVerdict (v: Verdict, peers: number): Matrix {
  return encodeGroups([v.uncorrectable], [v.flagged], peers)
}

export function decodeVerdict (m: Matrix, peers: number): Verdict | null {
  const d = decodeGroups(m, peers, 1, 1)
  return d === null ? null : { uncorrectable: d.flags[0], flagged: d.groups[0] }
}

/** Union of verdicts (rollback if anyone says so; flag whoever anyone flagged). */
export function unionVerdicts (vs: Iterable<Verdict>): Verdict {
  const out: Verdict = { uncorrectable: false, flagged: new Set() }
  for (const v of vs) {
    if (v.uncorrectable) out.uncorrectable = true
    unionInto(out.flagged, v.flagged)
  }
  return out
}

/** [uncorrectable, short, shards of layer 0 … layer L−1, biases], each P wide: a 1 × ((L+1)·P + 2) matrix. */
export function encodeAuditVerdict (v: AuditVerdict, peers: number): Matrix {
  return encodeGroups([v.uncorrectable, v.uncorrectable && v.short], [...v.shards, v.biases], peers)
}

export function decodeAuditVerdict (m: Matrix, peers: number, layers: number): AuditVerdict | null {
  const d = decodeGroups(m, peers, 2, layers + 1)
  return d === null ? null : { uncorrectable: d.flags[0], short: d.flags[0] && d.flags[1], shards: d.groups.slice(0, layers), biases: d.groups[layers] }
}

export function emptyAuditVerdict (layers: number): AuditVerdict {
  return { uncorrectable: false, short: false, shards: Array.from({ length: layers }, () => new Set<number>()), biases: new Set() }
}

export function unionAuditVerdicts (vs: Iterable<AuditVerdict>, layers: number): AuditVerdict {
  const out = emptyAuditVerdict(layers)
  let full = false
  for (const v of vs) {
    if (v.uncorrectable) { out.uncorrectable = true; full ||= !v.short }
    v.shards.forEach((s, l) => unionInto(out.shards[l], s))
    unionInto(out.biases, v.biases)
  }
  out.short = out.uncorrectable && !full
  return out
}

export const stepVerdicts = (peers: number): VerdictCodec<Verdict> => ({
  encode: v => encodeVerdict(v, peers),
  decode: m => decodeVerdict(m, peers),
  union: unionVerdicts
})

export const auditVerdicts = (peers: number, layers: number): VerdictCodec<AuditVerdict> => ({
  encode: v => encodeAuditVerdict(v, peers),
  decode: m => decodeAuditVerdict(m, peers, layers),
  union: vs => unionAuditVerdicts(vs, layers)
})

/** The shared random vector every peer multiplies its shard with in an audit. */
export function auditVector (seed: number, step: number, attempt: number, layer: number, length: number, salt = 0): Float64Array {
  const rng = createRng(seed, 'audit', step, attempt, layer, salt)
  const r = new Float64Array(length)
  for (let i = 0; i < length; i++) r[i] = rng.normal()
  return r
}

/** out[i] = Σ_j a[i, j] · r[j], appended at `into[offset…]`. */
export function matVecInto (a: Matrix, r: Float64Array, into: Float64Array, offset: number): void {
  const { rows, cols, data } = a
  for (let i = 0; i < rows; i++) into[offset + i] = dotAt(data, i * cols, r, cols)
}

/** Σ_j data[o + j]·r[j], j < n (a function of its own: optimised once, not on-stack per call). */
function dotAt (data: Float64Array, o: number, r: Float64Array, n: number): number {
  let s = 0
  for (let j = 0; j < n; j++) s += data[o + j] * r[j]
  return s
}

/** ‖a − b‖ / max(‖b‖, 1e-300) on plain vectors; NaN anywhere counts as Infinity. */
export function relativeDistance (a: Float64Array, b: Float64Array): number {
  let num = 0; let den = 0
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; num += d * d; den += b[i] * b[i] }
  const r = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300)
  return Number.isNaN(r) ? Infinity : r
}

/**
 * The vector more than half of `peers` hold (within `tolerance` relative, default 1e-8), or
 * null. Not an element-wise median: that fails once several peers hold different wrong copies.
 *
 * The reference is the copy with the most copies within tolerance of it (then the least
 * total distance to them, then the lowest peer): whatever order the copies arrived in, every
 * peer judging the same copies picks the same one. Grouping around the first copy seen would
 * make each peer's own copy (its first) the reference when honest copies drift apart at the
 * rounding level — then each flags the others, and a flagged peer "repairs" itself with its
 * own copy, audit after audit (a stall the soak found).
 */
export function majorityCopy (copies: ReadonlyMap<number, Float64Array>, peers: number, tolerance = 1e-8): Float64Array | null {
  const entries = [...copies].sort((a, b) => a[0] - b[0])
  let best: { rep: Float64Array, votes: number, spread: number } | null = null
  for (const [, v] of entries) {
    let votes = 0
    let spread = 0
    for (const [, w] of entries) {
      if (w.length !== v.length) continue
      const d = relativeDistance(w, v)
      if (d <= tolerance) { votes++; spread += d }
    }
    if (best === null || votes > best.votes || (votes === best.votes && spread < best.spread)) best = { rep: v, votes, spread }
  }
  return best !== null && 2 * best.votes > peers ? best.rep : null
}
