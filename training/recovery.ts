/**
 * Recovery helpers, pure and I/O-free: the verdict vectors peers exchange to agree on
 * rollbacks and audits, the seeded sketch vectors of the shard audit, and the
 * element-wise median that repairs replicated state (biases).
 *
 * Agreement here is "everyone sees everyone's verdict, twice": each peer publishes its
 * verdict, then echoes the union of what it received, and decides on the union of the
 * echoes. One lost message cannot split the peers; this is not a Byzantine agreement.
 */
import { type Matrix, zeros } from '../codes/matrix.ts'
import { createRng } from './rng.ts'

export interface Verdict {
  /** Some peer could not decode a round of this step: roll back. */
  uncorrectable: boolean
  /** Peers whose results or shards were found wrong. */
  flagged: Set<number>
}

/** [uncorrectable, flagged_0 … flagged_{P−1}] as a 1 × (P+1) matrix. */
export function encodeVerdict (v: Verdict, peers: number): Matrix {
  const m = zeros(1, peers + 1)
  m.data[0] = v.uncorrectable ? 1 : 0
  for (const p of v.flagged) if (p >= 0 && p < peers) m.data[1 + p] = 1
  return m
}

/** Reads a verdict; a malformed one (wrong size, non-0/1 values) yields null. */
export function decodeVerdict (m: Matrix, peers: number): Verdict | null {
  if (m.rows !== 1 || m.cols !== peers + 1) return null
  for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0 && m.data[i] !== 1) return null
  const flagged = new Set<number>()
  for (let p = 0; p < peers; p++) if (m.data[1 + p] === 1) flagged.add(p)
  return { uncorrectable: m.data[0] === 1, flagged }
}

/** Union of verdicts (rollback if anyone says so; flag whoever anyone flagged). */
export function unionVerdicts (vs: Iterable<Verdict>): Verdict {
  const out: Verdict = { uncorrectable: false, flagged: new Set() }
  for (const v of vs) {
    if (v.uncorrectable) out.uncorrectable = true
    for (const p of v.flagged) out.flagged.add(p)
  }
  return out
}

/** Peers flagged by more than half of the verdicts (plus uncorrectable by majority). */
export function majorityVerdict (vs: readonly Verdict[]): Verdict {
  const count = new Map<number, number>()
  let unc = 0
  for (const v of vs) {
    if (v.uncorrectable) unc++
    for (const p of v.flagged) count.set(p, (count.get(p) ?? 0) + 1)
  }
  const half = vs.length / 2
  return { uncorrectable: unc > half, flagged: new Set([...count].filter(([, c]) => c > half).map(([p]) => p)) }
}

/** The shared random vector every peer multiplies its shard with in an audit. */
export function auditVector (seed: number, step: number, attempt: number, layer: number, length: number): Float64Array {
  const rng = createRng(seed, 'audit', step, attempt, layer)
  const r = new Float64Array(length)
  for (let i = 0; i < length; i++) r[i] = rng.normal()
  return r
}

/** out[i] = Σ_j a[i, j] · r[j], appended at `into[offset…]`. */
export function matVecInto (a: Matrix, r: Float64Array, into: Float64Array, offset: number): void {
  const { rows, cols, data } = a
  for (let i = 0; i < rows; i++) {
    let s = 0
    const o = i * cols
    for (let j = 0; j < cols; j++) s += data[o + j] * r[j]
    into[offset + i] = s
  }
}

/** Element-wise median of equally long vectors. */
export function medianVector (vs: readonly Float64Array[]): Float64Array {
  const n = vs[0].length
  const out = new Float64Array(n)
  const col = new Float64Array(vs.length)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < vs.length; k++) col[k] = vs[k][i]
    col.sort()
    const h = vs.length >> 1
    out[i] = vs.length % 2 === 1 ? col[h] : (col[h - 1] + col[h]) / 2
  }
  return out
}

/** ‖a − b‖ / max(‖b‖, 1e-300) on plain vectors; NaN anywhere counts as Infinity. */
export function relativeDistance (a: Float64Array, b: Float64Array): number {
  let num = 0; let den = 0
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; num += d * d; den += b[i] * b[i] }
  const r = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300)
  return Number.isNaN(r) ? Infinity : r
}
