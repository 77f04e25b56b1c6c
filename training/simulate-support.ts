/**
 * What `simulate` (training/simulate.ts) needs beside its loop: the scenario (partitions, the
 * step the network is at), the network's view of a step (the majority report), the ground
 * truth's check of the peers' checkpoints, and the shared decode cache.
 */
import { type Matrix, padTo } from '../codes/matrix.ts'
import type { CodeScheme, DecodeOptions, DecodeResult, Phase } from '../codes/scheme.ts'
import type { MemoryNetwork } from './memory-exchange.ts'
import type { PeerTrainer, StepReport } from './trainer/index.ts'
import type { ReferenceState } from './reference.ts'
import { relativeDistance } from './recovery.ts'
import type { Partition } from './simulate.ts'

/**
 * Every peer decodes every round by itself; in one process those decodes are identical
 * computations whenever the peers hold the very same result objects. This wrapper
 * remembers the last decode per round and result set and hands peers the same answer
 * (each gets its own copy of the value). The scheme is pure, so no outcome changes.
 */
export function sharingDecodes (scheme: CodeScheme): CodeScheme {
  const ids = new WeakMap<Matrix, number>()
  let next = 0
  const idOf = (m: Matrix): number => { let i = ids.get(m); if (i === undefined) { i = next++; ids.set(m, i) } return i }
  let cache = new Map<string, DecodeResult>()
  const decode = (phase: Phase, results: ReadonlyMap<number, Matrix>, opts?: DecodeOptions): DecodeResult => {
    const key = `${phase}|${opts?.mode ?? ''}|${[...results].sort((a, b) => a[0] - b[0]).map(([p, m]) => `${p}:${idOf(m)}`).join(',')}`
    let r = cache.get(key)
    if (r === undefined) {
      r = scheme.decode(phase, results, opts)
      if (cache.size > 64) cache = new Map()
      cache.set(key, r)
    }
    return r.ok ? { ...r, value: { rows: r.value.rows, cols: r.value.cols, data: r.value.data.slice() }, used: [...r.used], faulty: [...r.faulty] } : { ...r, suspects: [...r.suspects] }
  }
  return new Proxy(scheme, {
    get (target, prop, receiver) {
      if (prop === 'decode') return decode
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}

/** The step most running peers are at. */
export function majorityStep (trainers: readonly PeerTrainer[], down: ReadonlyMap<number, unknown>): number {
  const steps = trainers.filter((_, p) => !down.has(p)).map(t => t.currentStep).sort((a, b) => a - b)
  return steps[Math.floor(steps.length / 2)] ?? 0
}

/**
 * Cut every link between peers of different groups while a partition is in force; heal otherwise.
 * A partition starts when the network reaches `fromStep` and lasts `toStep − fromStep` iterations
 * (steps of time), not until the network's step passes `toStep`: a partition that keeps the
 * network from progressing must still heal, as a real one does with time. `started` keeps, per
 * partition index, the iteration it began.
 */
export function applyPartitions (network: MemoryNetwork, partitions: readonly Partition[], step: number, peers: number, iteration = step, started = new Map<number, number>()): void {
  network.heal()
  for (const [k, part] of partitions.entries()) {
    if (!started.has(k)) {
      if (step < part.fromStep) continue
      started.set(k, iteration)
    }
    if (iteration - (started.get(k) as number) >= part.toStep - part.fromStep) continue
    const groupOf = new Array<number>(peers).fill(part.groups.length)
    part.groups.forEach((g, i) => { for (const p of g) if (p >= 0 && p < peers) groupOf[p] = i })
    for (let a = 0; a < peers; a++) for (let b = 0; b < peers; b++) if (groupOf[a] !== groupOf[b]) network.cut(a, b)
  }
}

/** The report most peers gave (by outcome, decided step and computed step): the network's view. */
export function majorityReport (reports: readonly StepReport[]): StepReport {
  const keyOf = (r: StepReport): string => `${r.outcome}|${r.decided}|${r.computed ? r.step : '-'}|${r.attempt}`
  const count = new Map<string, number>()
  for (const r of reports) count.set(keyOf(r), (count.get(keyOf(r)) ?? 0) + 1)
  let best = reports[0]
  for (const r of reports) if ((count.get(keyOf(r)) ?? 0) > (count.get(keyOf(best)) ?? 0)) best = r
  return best
}

/**
 * Parts of the peers' last verified checkpoints that are not the truth's: each peer's shard
 * W~_p and coded momentum V~_p against Enc_p of the true W and momentum, its biases and their
 * momentum against the true ones, off by more than `tolerance` (relative).
 */
export function checkpointMismatches (trainers: readonly PeerTrainer[], truth: ReferenceState, scheme: CodeScheme, momentum: boolean, tolerance: number): number {
  let bad = 0
  const off = (a: Float64Array, b: Float64Array): boolean => relativeDistance(a, b) > tolerance
  for (const t of trainers) {
    // A peer that moved to the network's position with stale state says so (it is awaiting
    // repair): its checkpoint is not claimed to be verified.
    if (t.status().distrustSelf) continue
    const ck = t.verifiedCheckpoint()
    ck.layers.forEach((layer, l) => {
      const rows = layer.shard.rows * scheme.m; const cols = layer.shard.cols * scheme.n
      if (off(layer.shard.data, scheme.encodeShard(padTo(truth.w[l], rows, cols), t.self).data)) bad++
      if (momentum && off(layer.velocity.data, scheme.encodeShard(padTo(truth.vw[l], rows, cols), t.self).data)) bad++
      if (off(layer.bias, truth.b[l])) bad++
      if (momentum && off(layer.biasVelocity, truth.vb[l])) bad++
    })
  }
  return bad
}
