/**
 * What one peer's run counts step by step (losses, correctness, step times, fault counters,
 * rollbacks, repairs, rejoins, time per stage, who agreed verdicts flagged and who was
 * repaired), and the run's `PeerSummary` built from it at the end (node/engine.ts).
 */
import type { TrainingConfig } from '../training/config.ts'
import type { PeerTrainer, StepReport } from '../training/trainer/index.ts'
import { codeSummary } from '../training/strategy.ts'
import type { ExchangeStats } from '../protocols/results.ts'
import { timingSummary } from './status.ts'
import type { PeerSummary } from './engine.ts'

/** The parts of a summary the tally does not hold. */
export interface SummaryContext {
  config: TrainingConfig
  trainer: PeerTrainer
  wallSeconds: number
  testAccuracy: number
  exchange: ExchangeStats
  self: number
  peerId: string
  job: string
  restoredFrom: number | null
  verdictDisagreements: number
  /** process.cpuUsage() when training began (after the join barrier). */
  cpuAtStart: NodeJS.CpuUsage
  /** Peers the process runs (a `codenet host` runs several): this peer counts its share. Default 1. */
  processPeers?: number
}

/**
 * CPU this peer process spent training (user + system, from the barrier to the end), split into
 * the maths (compute, encode, decode + detect: the trainer's own timers, single-threaded) and
 * everything else — the protocol: exchange, transport, gossip, agreement, serialisation, GC.
 */
export interface PeerCpu {
  totalS: number
  mathsS: number
  protocolS: number
  /** totalS per attempted step, in ms. */
  perStepMs: number
  /**
   * Peers that shared the process (1 for a `codenet peer` process). The process's CPU cannot be
   * told apart per peer, so each of them reports an equal share: totalS = process CPU / sharedBy,
   * and summing over the peers gives the processes' CPU.
   */
  sharedBy: number
}

export class RunTally {
  readonly losses: number[] = []
  readonly stepMs: number[] = []
  readonly correct: number[] = []
  readonly counters = { injected: 0, detected: 0, corrected: 0, uncorrectable: 0 }
  rollbacks = 0
  repairs = 0
  rejoins = 0
  attempted = 0
  readonly timing = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  readonly flaggedCount: number[] = []
  readonly repairedCount: number[] = []

  record (r: StepReport, ms: number): void {
    if (r.computed) this.attempted++
    if (r.resynced !== null) this.rejoins++
    for (const k of ['computeMs', 'encodeMs', 'decodeMs', 'waitMs'] as const) this.timing[k] += r.timing[k]
    if (r.computed) this.stepMs.push(ms)
    this.counters.detected += r.flagged.length + r.uncorrectable
    this.counters.uncorrectable += r.uncorrectable
    if (r.applied) this.counters.corrected += r.flagged.length
    for (const f of r.agreed.flagged) this.flaggedCount[f] = (this.flaggedCount[f] ?? 0) + 1
    for (const f of r.repaired) this.repairedCount[f] = (this.repairedCount[f] ?? 0) + 1
    if (r.repaired.length > 0) { this.repairs += r.repaired.length; this.counters.detected += r.repaired.length; this.counters.corrected += r.repaired.length }
    if (r.outcome === 'rolled-back') { this.rollbacks++; return }
    // Only steps this peer computed through (a step it could not decode has no loss).
    if (!r.applied) return
    this.losses.push(r.loss)
    this.correct.push(r.correct / r.batch)
  }

  summary (c: SummaryContext): PeerSummary {
    const trainer = c.trainer
    const window = Math.min(trainer.stepsPerEpoch, trainer.totalSteps)
    const tail = this.losses.slice(-window)
    return {
      strategy: c.config.strategy,
      peers: c.config.peers,
      code: codeSummary(trainer.scheme),
      steps: trainer.totalSteps,
      epochs: trainer.totalSteps / trainer.stepsPerEpoch,
      wallSeconds: c.wallSeconds,
      testAccuracy: c.testAccuracy,
      trainLoss: tail.length === 0 ? NaN : tail.reduce((s, x) => s + x, 0) / tail.length,
      faults: { ...this.counters, silent: null },
      rollbacks: this.rollbacks,
      repairs: this.repairs,
      timing: timingSummary(this.timing, this.stepMs),
      bytesSent: c.exchange.bytesSent,
      self: c.self,
      peerId: c.peerId,
      job: c.job,
      restoredFrom: c.restoredFrom,
      rejoins: this.rejoins,
      attemptedSteps: this.attempted,
      framesDropped: c.exchange.framesDropped,
      verdictDisagreements: c.verdictDisagreements,
      cpu: this.cpu(c.cpuAtStart, c.processPeers ?? 1)
    }
  }

  cpu (since: NodeJS.CpuUsage, processPeers = 1): PeerCpu {
    const u = process.cpuUsage(since)
    const sharedBy = Math.max(1, processPeers)
    const totalS = (u.user + u.system) / 1e6 / sharedBy
    const mathsS = (this.timing.computeMs + this.timing.encodeMs + this.timing.decodeMs) / 1000
    return { totalS, mathsS, protocolS: Math.max(0, totalS - mathsS), perStepMs: this.attempted > 0 ? 1000 * totalS / this.attempted : 0, sharedBy }
  }
}
