/**
 * Replication and uncoded baselines behind `CodeScheme`.
 *
 * The rows of W are split into b = P/r blocks; peer p holds block p mod b, so every block
 * sits on r peers. Forward: peer p computes W_{p mod b}·X (the input is X itself);
 * backward: W_{p mod b}ᵀ·Δ_{p mod b} (its block of Δ). Decoding votes per block on whole
 * result vectors: replicas agree when their relative distance (‖y − y'‖ / median norm) is
 * within tolerance. Forward concatenates the voted blocks, backward sums them.
 *  - adversarial mode: a block is accepted when more than half of its received replicas
 *    agree (majority; corrects ⌊(k−1)/2⌋ errors among k received replicas);
 *  - probabilistic mode: the largest agreeing group with ≥ 2 members, provided no other
 *    disjoint group of ≥ 2 disagrees with it (continuous random errors never agree, so this
 *    corrects up to k − 2 of k received replicas).
 * No unchecked acceptance: a block is accepted only when at least two of its copies agree
 * (adversarial: a strict majority of at least two). A lone copy is refused — the caller
 * waits for another — and so are repairs and weight decodes that rest on one copy, and
 * `checkShards` never calls a block with one copy consistent. So replication needs r ≥ 2.
 * recoveryThreshold = b: the fewest results that determine the product (one per block);
 * a checked decode needs two per block, 2b. Unlike an MDS code it is not "any 2b": in the
 * worst case P − r + 2 results are needed.
 *
 * Uncoded is r = 1: the unprotected baseline. It has no redundancy, so it accepts every
 * (single) result unchecked — a wrong result passes silently, which is its point as a
 * baseline — and a missing result is fatal; its `checkShards` is undecidable but not
 * inconsistent (there is nothing to check).
 */
import { gemm } from './gemm/index.ts'
import { type Matrix, ShapeError, allFinite, frobeniusNorm, matrix, zeros } from './matrix.ts'
import { CodeConfigError, CodeInputError, UncorrectableError } from './errors.ts'
import type { Capability, CodeScheme, DecodeOptions, DecodeResult, Phase, ShardCheck, Thresholds } from './scheme.ts'

/** Replicas agree when their relative distance is at most this (results are bitwise equal when honest). */
export const REPLICATION_TOLERANCE = 1e-9

export class ReplicationScheme implements CodeScheme {
  readonly kind: 'replication' | 'uncoded'
  readonly peers: number
  readonly replicas: number
  /** Number of distinct row blocks (P / r). */
  readonly m: number
  readonly n = 1
  readonly recoveryThreshold: Thresholds
  readonly conditionNumber: Thresholds = { forward: 1, backward: 1 }

  constructor (peers: number, replicas: number, kind: 'replication' | 'uncoded' = replicas === 1 ? 'uncoded' : 'replication') {
    if (!Number.isInteger(peers) || peers < 1) throw new CodeConfigError(`${kind}: peers must be a positive integer, got ${peers}`)
    if (!Number.isInteger(replicas) || replicas < 1) throw new CodeConfigError(`${kind}: replicas must be a positive integer, got ${replicas}`)
    if (peers % replicas !== 0) throw new CodeConfigError(`${kind}: ${peers} peers is not a multiple of ${replicas} replicas`)
    if (kind === 'uncoded' && replicas !== 1) throw new CodeConfigError('uncoded has exactly one replica')
    if (kind === 'replication' && replicas < 2) throw new CodeConfigError(`replication needs at least 2 replicas to check a block (got ${replicas}); r = 1 is the uncoded baseline`)
    this.kind = kind
    this.peers = peers
    this.replicas = replicas
    this.m = peers / replicas
    this.recoveryThreshold = { forward: this.m, backward: this.m }
  }

  blockOf (peer: number): number {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.peers) throw new CodeInputError(`peer ${peer} is not in 0..${this.peers - 1}`)
    return peer % this.m
  }

  /** Worst case over which peers are missing: the fewest replicas any block keeps. */
  correctable (_phase: Phase, received: number): Capability {
    const k = this.replicas - (this.peers - received)
    if (k < 1) return { adversarial: 0, probabilistic: 0 }
    return { adversarial: Math.floor((k - 1) / 2), probabilistic: Math.max(0, k - 2) }
  }

  private rowBlock (a: Matrix, b: number, what: string): Matrix {
    if (a.rows % this.m !== 0) throw new ShapeError(`${this.kind}: ${what} has ${a.rows} rows, not divisible into ${this.m} blocks`)
    const br = a.rows / this.m
    return matrix(br, a.cols, a.data.slice(b * br * a.cols, (b + 1) * br * a.cols))
  }

  encodeShard (w: Matrix, peer: number): Matrix { return this.rowBlock(w, this.blockOf(peer), 'W') }
  encodeForwardInput (x: Matrix, peer: number): Matrix { this.blockOf(peer); return x }
  encodeBackwardInput (delta: Matrix, peer: number): Matrix { return this.rowBlock(delta, this.blockOf(peer), 'Δ') }

  compute (phase: Phase, shard: Matrix, encodedInput: Matrix): Matrix {
    return phase === 'forward' ? gemm(shard, encodedInput) : gemm(shard, encodedInput, undefined, { transA: true })
  }

  /** Votes among one block's replicas; returns the winning group or a reason. */
  private vote (arrived: Array<[number, Matrix]>, mode: 'adversarial' | 'probabilistic', tol: number): { winner: Array<[number, Matrix]>, losers: number[] } | { reason: string, suspects: number[] } {
    // By peer, not by arrival: copies within the tolerance of each other are not identical, the
    // groups form around their first member and the value returned is the winning group's
    // first. In arrival order, peers that received the same copies in another order took
    // different values (and a repair another copy), their replicas parted below the tolerance,
    // and later rounds found them in disagreement — decisions the simulator never took.
    const members = [...arrived].sort((a, b) => a[0] - b[0])
    const k = members.length
    if (k === 1) {
      // Uncoded: the one copy there is, unchecked (the unprotected baseline) but finite.
      if (!allFinite(members[0][1])) return { reason: 'no finite replica', suspects: [members[0][0]] }
      if (this.kind === 'uncoded') return { winner: members, losers: [] }
      return { reason: 'only one replica: a lone copy is unchecked', suspects: [] }
    }
    // Each replica's norm once: it says whether the replica is finite and sets the scale.
    const normOf = members.map(([, y]) => frobeniusNorm(y))
    const finite = members.filter((_, i) => Number.isFinite(normOf[i]))
    if (finite.length === 0) return { reason: 'no finite replica', suspects: members.map(([p]) => p) }
    const norms = normOf.filter(Number.isFinite).sort((a, b) => a - b)
    const scale = Math.max(norms[norms.length >> 1], 1e-300)
    const agree = (a: Matrix, b: Matrix): boolean => {
      if (a.rows !== b.rows || a.cols !== b.cols) return false
      let s = 0
      for (let i = 0; i < a.data.length; i++) { const d = a.data[i] - b.data[i]; s += d * d }
      return Math.sqrt(s) / scale <= tol
    }
    // Greedy clustering: replicas agreeing with a group's first member join it.
    const groups: Array<Array<[number, Matrix]>> = []
    for (const e of finite) {
      const g = groups.find(g => agree(g[0][1], e[1]))
      if (g !== undefined) g.push(e); else groups.push([e])
    }
    groups.sort((a, b) => b.length - a.length)
    const best = groups[0]
    const ok = best.length >= 2 && (mode === 'adversarial'
      ? 2 * best.length > k
      : groups.length < 2 || groups[1].length < 2)
    if (!ok) return { reason: `no ${mode === 'adversarial' ? 'majority' : 'unique agreeing pair'} among ${k} replicas`, suspects: members.map(([p]) => p) }
    const winners = new Set(best.map(([p]) => p))
    return { winner: best, losers: members.map(([p]) => p).filter(p => !winners.has(p)) }
  }

  decode (phase: Phase, results: ReadonlyMap<number, Matrix>, opts: DecodeOptions = {}): DecodeResult {
    const mode = opts.mode ?? 'probabilistic'
    const tol = opts.tolerance ?? REPLICATION_TOLERANCE
    const byBlock: Array<Array<[number, Matrix]>> = Array.from({ length: this.m }, () => [])
    for (const [peer, y] of results) byBlock[this.blockOf(peer)].push([peer, y])
    const used: number[] = []; const faulty: number[] = []
    const values: Matrix[] = []
    for (let b = 0; b < this.m; b++) {
      if (byBlock[b].length === 0) return { ok: false, reason: `no result for block ${b}`, suspects: [] }
      const v = this.vote(byBlock[b], mode, tol)
      if ('reason' in v) return { ok: false, reason: `block ${b}: ${v.reason}`, suspects: v.suspects.sort((x, y) => x - y) }
      used.push(...v.winner.map(([p]) => p)); faulty.push(...v.losers)
      values.push(v.winner[0][1])
    }
    const shape = values[0]
    if (values.some(v => v.cols !== shape.cols || v.rows !== shape.rows)) {
      return { ok: false, reason: 'blocks disagree on the result shape', suspects: [] }
    }
    let value: Matrix
    if (phase === 'forward') {
      value = zeros(this.m * shape.rows, shape.cols)
      values.forEach((v, b) => value.data.set(v.data, b * v.data.length))
    } else {
      value = zeros(shape.rows, shape.cols)
      for (const v of values) for (let i = 0; i < v.data.length; i++) value.data[i] += v.data[i]
    }
    return { ok: true, value, used: used.sort((x, y) => x - y), faulty: faulty.sort((x, y) => x - y), residual: 0 }
  }

  applyUpdate (shard: Matrix, delta: Matrix, x: Matrix, lr: number, peer: number): void {
    const d = this.rowBlock(delta, this.blockOf(peer), 'Δ')
    gemm(d, x, shard, { transB: true, alpha: -lr, beta: 1 })
  }

  repairShard (shards: ReadonlyMap<number, Matrix>, target: number): Matrix {
    const b = this.blockOf(target)
    const copies = [...shards].filter(([p]) => p !== target && this.blockOf(p) === b)
    if (copies.length === 0) throw new UncorrectableError(`no other replica of block ${b} to repair peer ${target} from`)
    // Two agreeing copies at least: a lone copy could be the wrong one.
    const v = this.vote(copies, copies.length > 2 ? 'adversarial' : 'probabilistic', REPLICATION_TOLERANCE)
    if ('reason' in v) throw new UncorrectableError(`cannot repair peer ${target}: ${v.reason}`, v.suspects)
    const s = v.winner[0][1]
    return { rows: s.rows, cols: s.cols, data: s.data.slice() }
  }

  checkShards (shards: ReadonlyMap<number, Matrix>): ShardCheck {
    const byBlock: Array<Array<[number, Matrix]>> = Array.from({ length: this.m }, () => [])
    for (const [p, s] of shards) byBlock[this.blockOf(p)].push([p, s])
    const faulty: number[] = []
    let decidable = true
    let unchecked = false
    for (const group of byBlock) {
      if (group.length < 2) { if (group.length === 1) { decidable = false; unchecked = true } continue }
      const v = this.vote(group, group.length > 2 ? 'adversarial' : 'probabilistic', REPLICATION_TOLERANCE)
      if ('reason' in v) { decidable = false; faulty.push(...v.suspects) } else faulty.push(...v.losers)
    }
    // A block with one copy is unchecked: never "consistent" (except uncoded, which has nothing to check).
    const consistent = faulty.length === 0 && (!unchecked || this.kind === 'uncoded')
    return { consistent, faulty: faulty.sort((x, y) => x - y), decidable }
  }

  decodeWeights (shards: ReadonlyMap<number, Matrix>): Matrix {
    const blocks: Matrix[] = []
    for (let b = 0; b < this.m; b++) {
      const group = [...shards].filter(([p]) => this.blockOf(p) === b)
      if (group.length === 0) throw new UncorrectableError(`no shard of block ${b}`)
      const v = this.vote(group, 'adversarial', REPLICATION_TOLERANCE)
      if ('reason' in v) throw new UncorrectableError(`block ${b}: ${v.reason}`, v.suspects)
      blocks.push(v.winner[0][1])
    }
    const out = zeros(blocks.length * blocks[0].rows, blocks[0].cols)
    blocks.forEach((s, b) => out.data.set(s.data, b * s.data.length))
    return out
  }
}

export function createReplication (peers: number, replicas: number): ReplicationScheme {
  return new ReplicationScheme(peers, replicas, 'replication')
}

export function createUncoded (peers: number): ReplicationScheme {
  return new ReplicationScheme(peers, 1, 'uncoded')
}
