/**
 * Test accuracy while a testnet trains, measured by the operator from the peers' verified
 * checkpoints (the peers themselves decode the model only at the end: a collective round).
 *
 * The launcher runs every peer on this machine, so it can read their data dirs: once every
 * peer holding a checkpoint of step s is found, the model is decoded from their coded shards
 * (any m·n suffice; the code's own decoder checks the rest) and scored on the test split.
 * Nothing here talks to the network or changes the peers.
 */
import type { TrainingConfig } from '../training/config.ts'
import type { Dataset } from '../training/dataset.ts'
import type { Matrix } from '../codes/matrix.ts'
import type { Exchange } from '../training/exchange.ts'
import { createPeerTrainer } from '../training/trainer/index.ts'
import { deserializeCheckpoint, type Checkpoint } from '../training/checkpoint.ts'
import { testAccuracy } from '../training/evaluate.ts'
import { schemeForConfig } from '../training/strategy.ts'
import { createCheckpointStore } from '../node/store.ts'

/** An exchange that is never used: the decoder only needs the trainer's local functions. */
const idle = (peers: number, self: number): Exchange => ({
  self,
  peers,
  async publish () { throw new Error('offline decoder') },
  async collect () { throw new Error('offline decoder') },
  prune () {},
  positions: () => [],
  heard: 0
})

export class CheckpointEvaluator {
  private readonly config: TrainingConfig
  private readonly dataset: Dataset
  private readonly needed: number
  private lastStep = -1

  constructor (config: TrainingConfig, dataset: Dataset) {
    this.config = config
    this.dataset = dataset
    const s = schemeForConfig(config)
    this.needed = s.m * s.n
  }

  /** Score the newest step that enough peers checkpointed and that was not scored yet. */
  async evaluateNewest (dataDirs: readonly string[]): Promise<{ step: number, testAccuracy: number } | null> {
    const lists = await Promise.all(dataDirs.map(async d => ({ d, steps: await createCheckpointStore(d).list() })))
    const count = new Map<number, string[]>()
    for (const { d, steps } of lists) for (const s of steps) count.set(s, [...(count.get(s) ?? []), d])
    const candidates = [...count.entries()].filter(([s, ds]) => s > this.lastStep && ds.length >= Math.max(this.needed, dataDirs.length - 1)).sort((a, b) => b[0] - a[0])
    for (const [step, dirs] of candidates) {
      const cks: Checkpoint[] = []
      for (const d of dirs) {
        try {
          const f = await createCheckpointStore(d).load(step)
          const blob = f.blobs.get('trainer')
          if (blob !== undefined) cks.push(deserializeCheckpoint(blob))
        } catch { /* rotated away or being written: skip this peer */ }
      }
      if (cks.length < this.needed) continue
      const acc = this.score(cks)
      if (acc === null) continue
      this.lastStep = step
      return { step, testAccuracy: acc }
    }
    return null
  }

  /** Decode from the shards of `cks` (same step) and score; null when they do not decode. */
  score (cks: readonly Checkpoint[]): number | null {
    const first = cks[0]
    const trainer = createPeerTrainer({ config: this.config, self: first.peer, exchange: idle(this.config.peers, first.peer), dataset: this.dataset })
    try {
      trainer.restore(first)
      const shards = new Map<number, Matrix[]>()
      for (const c of cks) shards.set(c.peer, c.layers.map(l => l.shard))
      const acc = testAccuracy(trainer.decodeModelFrom(shards), this.dataset)
      return Number.isFinite(acc) ? acc : null
    } catch {
      return null
    }
  }
}
