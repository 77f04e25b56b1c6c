/**
 * Derivation of the PolyDot input encodings and decoding functionals in the Chebyshev
 * basis (computed once per (m, n) at scheme creation).
 *
 * Setting: a peer's result is y(v) = Σ_k o_k(v)·g_k(v), where the outer polynomials o_k
 * come from the stored shard and every g_k lies in S = span{e_a·e_b} (e = the inner
 * generators of the shard, times the dual family the peer's input is encoded with). We
 * look for a functional λ on S and a dual family f with λ(e_a·f_b) = δ_ab, and for
 * functionals L_k on polynomials of degree ≤ D with L_k(Σ_k' o_k' g_k') = λ(g_k). Then
 * L_k(y) = Σ_a (block of the wanted product) — exactly the k-th output block. Because the
 * map (g_k) ↦ Σ o_k g_k has dependencies, λ must vanish on every component of every
 * dependency; that fixes λ (for m ≥ 2 up to scale). Everything is in Chebyshev
 * coefficients, using T_a·T_b = ½(T_{a+b} + T_{|a−b|}). Port of the lead's numpy reference.
 */
import { chebMul } from './chebyshev.ts'
import { CodeConfigError } from './errors.ts'
import { columnSpan, invertSmall, leastSquares, nullspace } from './linalg.ts'

export interface Derivation {
  /** Dual family f_b as Chebyshev coefficient vectors (the encoding of the peer's input). */
  dual: Float64Array[]
  /** Output functionals L_k on Chebyshev coefficients of degree ≤ D (length D+1 each). */
  functionals: Float64Array[]
  /** Largest residual of the functional equations Aᵀ L_k = target (should be ~1e-15). */
  residual: number
}

/** Residual above which a derived functional is not exact and the configuration is refused. */
export const DERIVATION_TOLERANCE = 1e-9

function pad (v: ArrayLike<number>, length: number): Float64Array {
  const out = new Float64Array(length)
  for (let i = 0; i < Math.min(length, v.length); i++) out[i] = v[i]
  if (v.length > length) {
    for (let i = length; i < v.length; i++) {
      if (Math.abs(v[i]) > 1e-12) throw new CodeConfigError(`derivation: polynomial of degree ${v.length - 1} exceeds ${length - 1}`)
    }
  }
  return out
}

function dot (a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

export function derive (outer: ReadonlyArray<Float64Array>, inner: ReadonlyArray<Float64Array>, D: number): Derivation {
  const K = outer.length; const ng = inner.length
  const prods: Float64Array[] = []
  for (let a = 0; a < ng; a++) for (let b = 0; b < ng; b++) prods.push(chebMul(inner[a], inner[b]))
  const L = Math.max(...prods.map(p => p.length))
  // 1. Orthonormal basis Sb (columns) of S = span{e_a e_b}.
  const Sb = columnSpan(prods.map(p => pad(p, L)), L)
  const r = Sb.length
  // 2. A: (D+1) × (K·r), column (k, l) = cheb(o_k · Sb_l).
  const cols: Float64Array[] = []
  for (let k = 0; k < K; k++) for (let l = 0; l < r; l++) cols.push(pad(chebMul(outer[k], Sb[l]), D + 1))
  const Arows = Array.from({ length: D + 1 }, (_, i) => cols.map(c => c[i]))
  // 3. Dependencies and all their components.
  const N = nullspace(Arows, K * r)
  const G: Float64Array[] = []
  for (const vec of N) for (let k = 0; k < K; k++) G.push(vec.slice(k * r, (k + 1) * r))
  // 4. λ in Sb coordinates; λc on Chebyshev coefficients.
  let lam: Float64Array
  if (G.length === 0) {
    lam = Float64Array.from(Sb.map(col => col[0]))
  } else {
    const ns = nullspace(G, r)
    if (ns.length === 0) throw new CodeConfigError(`derivation: no functional vanishes on the ${N.length} dependencies`)
    lam = ns[0]
  }
  const lamc = new Float64Array(L)
  for (let l = 0; l < r; l++) for (let i = 0; i < L; i++) lamc[i] += Sb[l][i] * lam[l]
  // 5. Bilinear form and dual family.
  const B = Array.from({ length: ng }, (_, a) => Array.from({ length: ng }, (_, b) => dot(lamc, pad(prods[a * ng + b], L))))
  const Ci = invertSmall(B)
  if (Ci === null) throw new CodeConfigError('derivation: the bilinear form λ(e_a·e_b) is singular')
  const innerLen = Math.max(...inner.map(e => e.length))
  const dual: Float64Array[] = []
  for (let b = 0; b < ng; b++) {
    const f = new Float64Array(innerLen)
    for (let c = 0; c < ng; c++) for (let i = 0; i < inner[c].length; i++) f[i] += Ci[c][b] * inner[c][i]
    dual.push(f)
  }
  // 6. Functionals: Aᵀ L_k = (λ in block k).
  const ATrows = cols // row (k,l) of Aᵀ = column (k,l) of A
  const functionals: Float64Array[] = []
  let residual = 0
  for (let k = 0; k < K; k++) {
    const tgt = new Float64Array(K * r)
    tgt.set(lam, k * r)
    const sol = leastSquares(ATrows, D + 1, tgt)
    residual = Math.max(residual, sol.residual)
    if (!(sol.residual < DERIVATION_TOLERANCE)) {
      throw new CodeConfigError(`derivation: functional ${k} has residual ${sol.residual.toExponential(2)} ≥ ${DERIVATION_TOLERANCE}: no exact decoder for this configuration`)
    }
    functionals.push(sol.x)
  }
  return { dual, functionals, residual }
}
