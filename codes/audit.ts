/**
 * Cheap shard audits: a peer's sketch W~_p·G (G a shared seeded N_in/n × k Gaussian
 * probe) is, by linearity, the shard of the code word W·G' of the same code, so peers can
 * exchange k-column sketches instead of whole shards and run `checkShards` (or
 * `repairShard`, to get the sketch a peer's shard should have) on the sketches.
 */
import { gemm } from './gemm/index.ts'
import { type Matrix, zeros } from './matrix.ts'
import { createGaussian, mulberry32 } from './random.ts'
import { CodeInputError } from './errors.ts'

/** A cols × k Gaussian probe, identical on every peer for the same (cols, k, seed). */
export function createShardProbe (cols: number, k: number, seed: number): Matrix {
  if (!Number.isInteger(cols) || cols < 1 || !Number.isInteger(k) || k < 1) throw new CodeInputError(`probe ${cols}x${k} is not a valid shape`)
  const g = createGaussian(mulberry32(seed))
  const out = zeros(cols, k)
  for (let i = 0; i < out.data.length; i++) out.data[i] = g()
  return out
}

/** shard · probe: rows × k. */
export function sketchShard (shard: Matrix, probe: Matrix): Matrix {
  return gemm(shard, probe)
}
