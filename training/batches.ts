/**
 * The seeded batch order: step s of training uses a fixed slice of epoch e's permutation,
 * computable by any peer from (seed, s) alone, so a peer restored from a checkpoint (or
 * joining late) draws exactly the batches the others draw. The last partial batch of
 * an epoch is dropped, so every step has B samples.
 */
import { createRng, permutation } from './rng.ts'

export class BatchOrder {
  readonly stepsPerEpoch: number
  private readonly seed: number
  private readonly count: number
  private readonly batch: number
  private cachedEpoch = -1
  private cachedPerm: Uint32Array = new Uint32Array(0)

  constructor (seed: number, count: number, batch: number) {
    if (batch > count) throw new Error(`a batch of ${batch} does not fit in ${count} training samples`)
    this.seed = seed; this.count = count; this.batch = batch
    this.stepsPerEpoch = Math.floor(count / batch)
  }

  epochOf (step: number): number { return Math.floor(step / this.stepsPerEpoch) }

  epochPermutation (epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = permutation(this.count, createRng(this.seed, 'batches', epoch))
      this.cachedEpoch = epoch
    }
    return this.cachedPerm
  }

  /** Sample indices of global step `step` (0-based). */
  indices (step: number): Uint32Array {
    const e = this.epochOf(step)
    const k = step - e * this.stepsPerEpoch
    return this.epochPermutation(e).slice(k * this.batch, (k + 1) * this.batch)
  }
}
