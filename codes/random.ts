/** Small seeded generators: deterministic sketches, samples and tests. */

/** mulberry32: uniform in [0, 1), unlabelled and stateless to save — the codes' sketches, searches and tests (training/rng.ts createRng gives the labelled, serialisable streams of training). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal samples (Box–Muller) from a uniform generator. */
export function createGaussian (rng: () => number): () => number {
  let spare: number | undefined
  return () => {
    if (spare !== undefined) { const s = spare; spare = undefined; return s }
    let u = 0
    while (u === 0) u = rng()
    const v = rng()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
}
