/** Order statistics shared by every layer (decoders, exchanges, summaries, benchmarks). */

/** The median of `xs` (mean of the two middle values for an even count); NaN when empty. */
export function median (xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  // A typed array sorts numerically without a comparator call per comparison: the network's
  // adaptive grace (training/collect.ts) takes two medians per round and phase.
  const s = Float64Array.from(xs).sort()
  const h = s.length >> 1
  return s.length % 2 === 1 ? s[h] : 0.5 * (s[h - 1] + s[h])
}

/** Nearest-rank quantile q ∈ [0, 1] of `xs`; 0 when empty (a summary of no samples). */
export function quantile (xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]
}

/** median + k·MAD of `xs`, the MAD floored at `floor` (robust "usual value plus spread"). */
export function medianPlusMad (xs: readonly number[], k: number, floor = 0): number {
  const med = median(xs)
  const mad = median(xs.map(x => Math.abs(x - med)))
  return med + k * Math.max(mad, floor)
}
