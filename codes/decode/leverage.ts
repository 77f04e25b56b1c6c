/**
 * Leverage-aware acceptance (codes/decode.ts): how far could an accepted decode be from the
 * truth if one result of the agreeing set A — or a coalition of up to ⌊(R − q)/2⌋ + 1 of them
 * (`colludingShift`, below) — carries an error the fit absorbed?
 *
 * With V the |A| × q Chebyshev–Vandermonde rows of A, the least-squares fit has hat values
 * h_ii = v_i·(VᵀV)⁻¹v_i and pseudo-inverse columns g_i = (VᵀV)⁻¹v_i (column i of the fit's
 * pinv). An error e_i on result i shows as residual r_i = (1 − h_ii)·e_i and moves the
 * coefficients by g_i·e_i; exactly (leave-one-out identity, "DFBETA"),
 *     ĉ_A − ĉ_{A∖i} = g_i · r_i / (1 − h_ii),
 * so if the other results are honest the decode is off by F·g_i·r_i/(1 − h_ii) (F: the
 * decoding functionals), whatever e_i was. The bound used is
 *     shift_i = ‖F g_i‖ · (‖r_i‖ + floor·scale) / (1 − h_ii),
 * and the decode is accepted only when max_i shift_i ≤ ACCEPT_SHIFT · ‖decode‖.
 *
 * `floor` is the level below which a computed residual says nothing: r = (I − V·pinv)·Y is
 * computed to ≈ ε·κ(A)·scale (backward-stable QR), so an error whose residual (1 − h_ii)·e_i
 * is below that could be cancelled by rounding. floor = ROUNDING_MARGIN·ε·κ_F(A) with
 * κ_F(A) = ‖V_A‖_F·‖V_A⁺‖_F ≥ κ₂(A) (from the fit's own pinv, no SVD) — the analogue for the
 * set in hand of the tolerance's 1000·ε·κ_worst at the rounding level (CLEAN_FRACTION of it).
 * The floor makes h_ii → 1 (R = Q, or a point the others cannot see) always refused: there
 * an error leaves no residual at all.
 *
 * Why the observed residual and not the tolerance: the identity above is exact for one error,
 * so ‖r_i‖ says exactly how far result i pulled the decode; bounding it by the tolerance instead
 * (an error up to the tolerance is not flagged) only adds conservatism — far too much: the
 * flagging tolerance 1000·ε·κ_worst is calibrated to the worst Q-subset and is ~1e-7 for the
 * larger codes, so that bound exceeds 1e-7 even with all P results for many codes the job
 * validator accepts (P = 15, 16), which could then never decode. Several colluding
 * sub-tolerance errors are not covered by this bound: `colludingShift` is. Limits:
 * docs/codes.md §Leverage.
 *
 * Cost: O(|A|·q·K) on the q-sized pinv columns the fit already has; no full-vector work.
 */
import { binomial, forEachSubset } from '../chebyshev.ts'
import { type Fit, type Received, setScale } from './fit.ts'
import { vector } from '../vectors.ts'

/**
 * Largest accepted relative shift of a decode by one hidden error. training/simulate.ts
 * counts a decode off by more than 1e-6 (SILENT_TOLERANCE) as silent; 1e-7 leaves 10× for
 * several hidden errors and rounding.
 */
export const ACCEPT_SHIFT = 1e-7

/** 1 − h_ii below this counts as 1 − h = 0: the point is determined by the others alone. */
const MIN_FREEDOM = 1e-14

/**
 * floor = ROUNDING_MARGIN·ε·κ_F(A): 10× the accuracy of a computed residual, as CLEAN_FRACTION
 * (1/100) of the tolerance formula 1000·ε·κ is for the worst subset.
 */
export const ROUNDING_MARGIN = 10

/** What both bounds need of the agreeing set, computed once: its scale, rounding floor and residuals. */
export interface LeverageBasis {
  /** scale_A: the median norm of the members' results. */
  scale: number
  /** Relative residual below which a computed residual says nothing: max(minFloor, ROUNDING_MARGIN·ε·κ_F(A)). */
  floor: number
  /** ‖(relative residuals of A)‖₂. */
  residualNorm: number
}

export function leverageBasis (received: Received, members: readonly number[], fit: Fit, minFloor = 0): LeverageBasis {
  const { q, V, R } = received
  let vv = 0; let pp = 0; let rr = 0
  for (const i of members) {
    for (let d = 0; d < q; d++) { vv += V[i * q + d] * V[i * q + d]; pp += fit.pinv[d * R + i] * fit.pinv[d * R + i] }
    rr += fit.residual[i] * fit.residual[i]
  }
  return {
    scale: setScale(received.norms, members),
    floor: Math.max(minFloor, ROUNDING_MARGIN * Number.EPSILON * Math.sqrt(vv * pp)),
    residualNorm: Math.sqrt(rr)
  }
}

export interface HiddenShift {
  /** max_i shift_i, in the units of the decoded outputs (Infinity when some 1 − h_ii ≈ 0). */
  shift: number
  /** Index (into the received results) of the member attaining it, −1 when A is empty. */
  at: number
  /** Its 1 − h_ii. */
  freedom: number
}

/**
 * The worst hidden shift over the members of A. `functionals` (K × q) map coefficients to the
 * decoded outputs; with none (a pure consistency check), `codeRows` (rows of T_k at every
 * code point) are used and the shift is the largest one of any code point's value.
 */
export function hiddenShift (
  received: Received,
  members: readonly number[],
  fit: Fit,
  functionals: ReadonlyArray<Float64Array>,
  codeRows: { data: Float64Array, rows: number } | null,
  basis: LeverageBasis = leverageBasis(received, members, fit)
): HiddenShift {
  const { q, V, R } = received
  const { scale, floor } = basis
  const g = vector(q)
  let worst: HiddenShift = { shift: 0, at: members.length > 0 ? members[0] : -1, freedom: 1 }
  for (const i of members) {
    let h = 0
    for (let d = 0; d < q; d++) { g[d] = fit.pinv[d * R + i]; h += V[i * q + d] * g[d] }
    const freedom = 1 - h
    let reach = 0
    if (functionals.length > 0) {
      let ss = 0
      for (const f of functionals) {
        let s = 0
        for (let d = 0; d < q; d++) s += f[d] * g[d]
        ss += s * s
      }
      reach = Math.sqrt(ss)
    } else if (codeRows !== null) {
      for (let p = 0; p < codeRows.rows; p++) {
        let s = 0
        for (let d = 0; d < q; d++) s += codeRows.data[p * q + d] * g[d]
        reach = Math.max(reach, Math.abs(s))
      }
    }
    const shift = freedom > MIN_FREEDOM
      ? reach * (fit.residual[i] * scale + floor * scale) / freedom
      : Infinity
    if (!(shift <= worst.shift)) worst = { shift, at: i, freedom }
  }
  return worst
}

/** Cap on the hidden sets `colludingShift` enumerates; beyond it the decode is refused. */
export const MAX_COLLUSION_SETS = 5000

/** Cholesky pivots of V_SᵀV_S below this fraction of its largest diagonal count as singular. */
const PIVOT_FLOOR = 1e-15

/**
 * Several hidden errors. Up to k results of A may carry errors the fit absorbed — colluders
 * adding one common polynomial of degree < q (their results then lie on another code word)
 * make that easy, and the one-error bound above does not see them. Whatever the errors, if
 * the set S = A ∖ B of the others is honest (|S| ≥ q), then V_S·(ĉ_A − c) = ρ_S − r_S exactly
 * (ρ: honest rounding of the results, r: the observed residuals of the fit of A), so
 *     ‖F(ĉ_A − c)‖ ≤ ‖F·V_S⁺‖₂ · (‖r_A‖_F + ‖ρ‖),
 * and ‖F·V_S⁺‖ only grows as S shrinks (VᵀV decreases in the Loewner order), so the sets with
 * |B| = k bound every smaller one. Two steps, both on q-sized data:
 *  - cheap, always: any S of ≥ q Chebyshev points has σ_min(V_S) ≥ √q/κ_worst (it contains a
 *    q-subset, whose σ_max ≥ √q from the column T_0 = 1), so ‖F·V_S⁺‖ ≤ ‖F‖_F·κ_worst/√q;
 *  - exact, when that fails: max over the C(|A|, k) sets B of ‖F·V_{A∖B}⁺‖_F (refused when
 *    there are more than MAX_COLLUSION_SETS), each a q × q Cholesky solve.
 * ‖ρ‖ is taken as the rounding floor, as in `hiddenShift`. Returns the bound, in the units of
 * the outputs (with no functionals: the largest shift of any code point's value); the exact
 * step runs only when the cheap bound exceeds `accepted` (the largest shift the caller takes).
 */
export function colludingShift (
  received: Received,
  members: readonly number[],
  fit: Fit,
  functionals: ReadonlyArray<Float64Array>,
  codeRows: { data: Float64Array, rows: number } | null,
  k: number,
  kappaWorst: number | null,
  accepted: number,
  basis: LeverageBasis = leverageBasis(received, members, fit)
): number {
  if (k < 1) return 0
  const { q } = received
  const slack = basis.scale * (basis.residualNorm + Math.sqrt(members.length) * basis.floor)
  if (slack === 0) return 0
  if (members.length - k < q) return Infinity
  // The rows the shift is measured on: the functionals (Frobenius), or every code point (max).
  const rows = functionals.length > 0 ? functionals : null
  let reachAll: number
  if (rows !== null) {
    let ff = 0
    for (const f of rows) for (let d = 0; d < q; d++) ff += f[d] * f[d]
    reachAll = Math.sqrt(ff)
  } else reachAll = Math.sqrt(q)
  const cheap = kappaWorst !== null ? reachAll * kappaWorst / Math.sqrt(q) * slack : Infinity
  if (cheap <= accepted || reachAll === 0) return Math.min(cheap, reachAll === 0 ? 0 : cheap)
  const key = collusionKey(received, members, rows, k)
  let exact = key?.cache.get(key.key)
  if (exact === undefined) {
    exact = exactColluding(received, members, rows, codeRows, k)
    if (key !== null) {
      if (key.cache.size >= MAX_CACHED_COLLUSION) key.cache.clear()
      key.cache.set(key.key, exact)
    }
  }
  return Math.min(cheap, exact * slack)
}

/**
 * exactColluding depends only on the geometry — which points are in A, k, and what the shift
 * is measured on — never on the results: with a point set's senders known it is remembered per
 * (q, target rows, k, members). Rounds of a job meet the same few member sets again and again,
 * and at P = 16 the enumeration (up to MAX_COLLUSION_SETS Cholesky solves) was 92 % of a soak
 * seed's CPU. The value is the same number either way.
 */
const collusionCaches = new WeakMap<object, Map<string, number>>()
const targetIds = new WeakMap<object, number>()
let nextTargetId = 0
const MAX_CACHED_COLLUSION = 20_000

/**
 * Where the exact bound of (received, members, target rows, k) is remembered, and under which
 * key; null when the senders' point set is unknown (no caching).
 */
function collusionKey (
  received: Received,
  members: readonly number[],
  functionals: ReadonlyArray<Float64Array> | null,
  k: number
): { cache: Map<string, number>, key: string } | null {
  const senders = received.senders
  if (senders === null) return null
  // What the shift is measured on: the functionals array (one per scheme phase), or every code
  // point (the same rows for a point set and q).
  let tid = 'rows'
  if (functionals !== null) {
    let id = targetIds.get(functionals)
    if (id === undefined) { id = nextTargetId++; targetIds.set(functionals, id) }
    tid = String(id)
  }
  let cache = collusionCaches.get(senders.cache)
  if (cache === undefined) { cache = new Map(); collusionCaches.set(senders.cache, cache) }
  const ids = members.map(i => senders.ids[i]).sort((a, b) => a - b)
  return { cache, key: `${received.q}|${tid}|${k}|${ids.join(',')}` }
}

/**
 * max over B ⊂ A, |B| = k, of ‖F·V_{A∖B}⁺‖_F (or the largest code-point row norm); Infinity
 * past the cap. With G_S = V_SᵀV_S = L·Lᵀ (downdated from G_A, Cholesky, all q × q):
 * ‖F·V_S⁺‖_F² = trace(F·G_S⁻¹·Fᵀ) = Σ_k ‖L⁻¹f_k‖². A pivot below PIVOT_FLOOR of the largest
 * diagonal (cond(V_S) beyond ~3e7, where G_S carries no reliable digits) counts as unbounded.
 */
function exactColluding (
  received: Received,
  members: readonly number[],
  functionals: ReadonlyArray<Float64Array> | null,
  codeRows: { data: Float64Array, rows: number } | null,
  k: number
): number {
  const { q, V } = received
  const A = members.length
  if (binomial(A, k) > MAX_COLLUSION_SETS) return Infinity
  const GA = vector(q * q)
  for (const i of members) {
    for (let a = 0; a < q; a++) for (let b = 0; b <= a; b++) GA[a * q + b] += V[i * q + a] * V[i * q + b]
  }
  const targets: Float64Array[] = functionals !== null
    ? [...functionals]
    : codeRows !== null ? Array.from({ length: codeRows.rows }, (_, p) => codeRows.data.subarray(p * q, (p + 1) * q)) : []
  const G = vector(q * q)
  const y = vector(q)
  let worst = 0
  const finished = forEachSubset(A, k, B => {
    G.set(GA)
    for (const b of B) {
      const i = members[b]
      for (let a = 0; a < q; a++) for (let c = 0; c <= a; c++) G[a * q + c] -= V[i * q + a] * V[i * q + c]
    }
    // In-place Cholesky of the lower triangle: G = L·Lᵀ.
    let dmax = 0
    for (let a = 0; a < q; a++) dmax = Math.max(dmax, G[a * q + a])
    for (let j = 0; j < q; j++) {
      let d = G[j * q + j]
      for (let c = 0; c < j; c++) d -= G[j * q + c] * G[j * q + c]
      if (!(d > PIVOT_FLOOR * dmax)) { worst = Infinity; return true }
      const ljj = Math.sqrt(d)
      G[j * q + j] = ljj
      for (let a = j + 1; a < q; a++) {
        let v = G[a * q + j]
        for (let c = 0; c < j; c++) v -= G[a * q + c] * G[j * q + c]
        G[a * q + j] = v / ljj
      }
    }
    let sum = 0; let max = 0
    for (const f of targets) {
      let ss = 0
      for (let a = 0; a < q; a++) {
        let v = f[a]
        for (let c = 0; c < a; c++) v -= G[a * q + c] * y[c]
        y[a] = v / G[a * q + a]
        ss += y[a] * y[a]
      }
      sum += ss; if (ss > max) max = ss
    }
    const reach = Math.sqrt(functionals !== null ? sum : max)
    if (reach > worst) worst = reach
    return false
  })
  return finished ? Infinity : worst
}
