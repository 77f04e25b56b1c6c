/**
 * Byzantine peers and lying voters, as fault injectors: what `simulate --byzantine-peers`,
 * `--lying-voters` and `codenet fault byzantine` make a peer do.
 *
 *   byzantine    every partial product the peer publishes is offset by the same seeded pattern
 *                per (layer, phase): coherently, persistently wrong — a lying computer, not noise
 *   lying voter  every vote it casts (step and audit) claims the opposite of what its decoders
 *                found and accuses an innocent peer (the trainer's 'verdict' site)
 */
import { createRng, hashSeed } from './rng.ts'
import type { FaultContext, FaultInjector, FaultSite } from './soft-errors.ts'

/** Add the byzantine offset of (seed, layer, tag) to a product, in place. */
export function byzantineOffset (data: Float64Array, seed: number, magnitude: number, ctx: Pick<FaultContext, 'layer' | 'tag'>): void {
  const rng = createRng(hashSeed(seed, 'byzantine', ctx.layer, ctx.tag ?? ''))
  for (let i = 0; i < data.length; i++) data[i] += magnitude * (rng.float() < 0.5 ? -1 : 1) * (0.5 + rng.float())
}

export interface Adversaries {
  byzantinePeers?: readonly number[]
  lyingVoters?: readonly number[]
  seed: number
  /** Size of the byzantine offsets (default 1). */
  magnitude?: number
}

/** `base` plus the adversaries' behaviour; their acts count as injected faults. */
export function withAdversaries (base: FaultInjector, a: Adversaries): FaultInjector {
  const byzantine = new Set(a.byzantinePeers ?? [])
  const liars = new Set(a.lyingVoters ?? [])
  if (byzantine.size === 0 && liars.size === 0) return base
  let acts = 0
  return {
    options: base.options,
    get injected () { return base.injected + acts },
    bySite: base.bySite,
    events: base.events,
    inject (site: FaultSite, data: Float64Array, ctx: FaultContext): boolean {
      let hit = base.inject(site, data, ctx)
      if (site === 'matmul' && byzantine.has(ctx.peer)) { byzantineOffset(data, a.seed, a.magnitude ?? 1, ctx); acts++; hit = true }
      if (site === 'verdict' && liars.has(ctx.peer)) { acts++; hit = true }
      return hit
    }
  }
}
