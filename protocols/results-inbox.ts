/**
 * The inbound half of the result exchange (protocols/results.ts): the rounds it holds, and each
 * sender's result reassembled from its frames. A result is charged against its sender's byte
 * cap from its first chunk until its round is pruned; its frames must agree on its shape, and
 * each chunk counts once.
 */
import type { Matrix } from '../codes/matrix.ts'
import type { RoundKey } from '../training/exchange.ts'
import { roundKeyString } from '../training/exchange.ts'
import { CHUNK_ELEMENTS, type FrameView } from './frame.ts'
import { copyFloat64LE } from '../training/float64-le.ts'

interface Partial {
  rows: number
  cols: number
  data: Float64Array
  have: Uint8Array
  missing: number
}

export interface Round {
  step: number
  phase: string
  results: Map<number, Matrix>
  arrivedAt: Map<number, number>
  partial: Map<number, Partial>
  /** Time the threshold-th result arrived during a collect, for lateness samples. */
  thresholdAt: number | null
  /** Senders whose result had the wrong shape (counted once). */
  misshapen: Set<number>
  notify: (() => void) | null
}

/**
 * Inbox bytes a result is charged against its sender's cap: its payload, but at least 1 KiB,
 * so a flood of tiny results for ever new rounds is bounded in round count too.
 */
const charge = (rows: number, cols: number): number => Math.max(rows * cols * 8, 1024)

/** What one frame did: completed its sender's result, was refused (the drop reason), or only added a chunk (null). */
export type Reassembled = { round: Round, result: Matrix } | { drop: string } | null

export class Inbox {
  private readonly rounds = new Map<string, Round>()
  private readonly heldBytes: number[]
  private readonly maxHeld: number

  /** `maxHeld`: bytes of received payloads held per sender. */
  constructor (peers: number, maxHeld: number) {
    this.heldBytes = new Array(peers).fill(0)
    this.maxHeld = maxHeld
  }

  /** The round of `key`, created empty when new. */
  round (key: RoundKey): Round {
    const k = roundKeyString(key)
    let r = this.rounds.get(k)
    if (r === undefined) {
      r = { step: key.step, phase: key.phase, results: new Map(), arrivedAt: new Map(), partial: new Map(), thresholdAt: null, misshapen: new Set(), notify: null }
      this.rounds.set(k, r)
    }
    return r
  }

  all (): IterableIterator<Round> { return this.rounds.values() }

  /** Adds one chunk of member `index`'s result (the frame's sender and step already checked). */
  add (index: number, f: FrameView): Reassembled {
    const key = { step: f.step, layer: f.layer, phase: f.phase, attempt: f.attempt }
    const existing = this.rounds.get(roundKeyString(key))
    if (existing?.results.has(index) === true) return { drop: 'duplicate' }
    let p = existing?.partial.get(index)
    if (p === undefined) {
      const bytes = charge(f.rows, f.cols)
      if (this.heldBytes[index] + bytes > this.maxHeld) return { drop: 'inbox-full' }
      this.heldBytes[index] += bytes
      p = { rows: f.rows, cols: f.cols, data: new Float64Array(f.rows * f.cols), have: new Uint8Array(f.chunkCount), missing: f.chunkCount }
      this.round(key).partial.set(index, p)
    } else if (p.rows !== f.rows || p.cols !== f.cols) {
      return { drop: 'shape-changed' }
    }
    if (p.have[f.chunkIndex] === 1) return { drop: 'duplicate' }
    p.have[f.chunkIndex] = 1
    p.missing--
    copyFloat64LE(f.payloadBytes, 0, f.payloadBytes.length / 8, p.data, f.chunkIndex * CHUNK_ELEMENTS)
    if (p.missing > 0) return null
    const r = this.round(key)
    r.partial.delete(index)
    return { round: r, result: { rows: p.rows, cols: p.cols, data: p.data } }
  }

  /** Forgets the rounds before `step` (waking their collectors) and frees what they held; `self`'s own results were never charged. */
  prune (step: number, self: number): void {
    for (const [k, r] of this.rounds) {
      if (r.step >= step) continue
      for (const [i, m] of r.results) if (i !== self) this.heldBytes[i] -= charge(m.rows, m.cols)
      for (const [i, p] of r.partial) this.heldBytes[i] -= charge(p.rows, p.cols)
      r.notify?.()
      this.rounds.delete(k)
    }
  }
}

/**
 * The results of round `r` that can be decoded together. Every result of one round has one
 * shape: ours (`self`'s) when we published, else the most common one. A result of another
 * shape is a lie that would only make the decoder throw: it is left out, and `onMisshapen`
 * hears of its sender once.
 */
export function usableResults (r: Round, self: number, onMisshapen: (index: number) => void): Map<number, Matrix> {
  const results = new Map(r.results)
  const shapeOf = (m: Matrix): string => `${m.rows}x${m.cols}`
  let ref: string | null = r.results.has(self) ? shapeOf(r.results.get(self) as Matrix) : null
  if (ref === null) {
    const count = new Map<string, number>()
    for (const m of results.values()) count.set(shapeOf(m), (count.get(shapeOf(m)) ?? 0) + 1)
    let best = 0
    for (const [k, n] of count) if (n > best) { best = n; ref = k }
  }
  for (const [i, m] of results) {
    if (shapeOf(m) !== ref) {
      results.delete(i)
      if (!r.misshapen.has(i)) { r.misshapen.add(i); onMisshapen(i) }
    }
  }
  return results
}
