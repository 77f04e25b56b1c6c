/**
 * Seeded pseudo-random numbers with a serialisable state (sfc32: small, fast, good
 * statistics). Every peer derives the same streams from the job seed and a label, so
 * initial weights, batch order, audit vectors and fault draws need no communication.
 */

export interface RngState {
  /** Four 32-bit words. */
  s: [number, number, number, number]
}

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  u32 (): number
  /** Uniform in [0, 1). */
  float (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
  /** Standard normal (Box–Muller; no cached spare, so the state alone determines the stream). */
  normal (): number
  state (): RngState
}

/** FNV-1a over the parts' text: a 32-bit key for a labelled sub-stream. */
export function hashSeed (...parts: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5
  const s = parts.join('\u0000')
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** A stream keyed by (seed, label parts): same inputs, same numbers, on every peer. */
export function createRng (...parts: ReadonlyArray<string | number>): Rng {
  const h = hashSeed(...parts)
  const st: RngState = { s: [h, hashSeed(h, 'b'), hashSeed(h, 'c'), 1] }
  const r = rngFromState(st)
  for (let i = 0; i < 12; i++) r.u32() // warm up: sfc32's first outputs are correlated with the seed
  return r
}

export function rngFromState (state: RngState): Rng {
  let [a, b, c, d] = state.s
  a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  const float = (): number => u32() / 4294967296
  return {
    u32,
    float,
    int: (n: number) => Math.floor(float() * n),
    normal: () => {
      let u = float()
      while (u === 0) u = float()
      const v = float()
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    },
    state: () => ({ s: [a, b, c, d] })
  }
}

/** Fisher–Yates permutation of 0..n-1. */
export function permutation (n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = p[i]; p[i] = p[j]; p[j] = t
  }
  return p
}
