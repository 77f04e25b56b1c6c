/** The uncoded model: decoded from every peer's shards (the biases are replicated: this peer's own). */
import type { Matrix } from '../../codes/matrix.ts'
import type { Model } from '../model.ts'
import { audit } from './audit.ts'
import { roundKey, type TrainerContext } from './context.ts'

/** Decode the full model from per-peer shards (each a list of per-layer shards). */
export function decodeModelFrom (ctx: TrainerContext, all: ReadonlyMap<number, readonly Matrix[]>): Model {
  const { geo, state } = ctx
  const out: Model = { activation: ctx.config.activation, layers: [] }
  for (let l = 0; l < geo.L; l++) {
    const shardsL = new Map<number, Matrix>()
    for (const [p, s] of all) if (s[l] !== undefined) shardsL.set(p, s[l])
    const w = ctx.scheme.decodeWeights(shardsL, { mode: ctx.config.errorModel })
    const { rows, cols } = geo.shapes[l]
    const exact = { rows, cols, data: new Float64Array(rows * cols) }
    for (let r = 0; r < rows; r++) exact.data.set(w.data.subarray(r * w.cols, r * w.cols + cols), r * cols)
    out.layers.push({ w: exact, b: state.layers[l].bias.slice() })
  }
  return out
}

/**
 * Collective (rounds 'audit', 'audit-verdict', 'shard', 'weights'): a last audit first — a
 * shard corrupted in the final step has had no later round to be flagged in; an undecidable
 * audit is left to decodeWeights to report — then every peer's shards, then decode.
 */
export async function decodedWeights (ctx: TrainerContext): Promise<Model> {
  // Every peer meets at one place for the final rounds, whatever attempt it finished at (peers
  // that resynced or rolled back near the end may differ): the last step, attempt 0, and audit
  // vectors from the step alone (decodeWeights checks whole shards anyway).
  ctx.state.attempt = 0
  ctx.state.auditSalt = 0
  ctx.state.finishing = true
  await audit(ctx)
  const all = new Map<number, Matrix[]>()
  for (let l = 0; l < ctx.geo.L; l++) {
    const c = await ctx.round(roundKey(ctx, l, 'weights'), ctx.state.layers[l].shard, ctx.policies.weights(), undefined, true)
    for (const [p, s] of c.results) {
      let list = all.get(p)
      if (list === undefined) { list = []; all.set(p, list) }
      list[l] = s
    }
  }
  return decodeModelFrom(ctx, all)
}
