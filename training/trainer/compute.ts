/**
 * The arithmetic of one step at this peer: coded matrix products (encode, multiply by the
 * own shard, exchange, decode), the forward and backward passes built on them, and the
 * in-place update of the coded shards.
 */
import { axpy, clone, type Matrix, maxAbs, padTo, rowSlice, scale, zeros } from '../../codes/matrix.ts'
import type { DecodeResult, Phase } from '../../codes/scheme.ts'
import { activationRule } from '../activations.ts'
import { softmaxCrossEntropy } from '../loss.ts'
import { addBias } from '../model.ts'
import { learningRate } from '../schedule.ts'
import { hashSeed } from '../rng.ts'
import { roundKey, type TrainerContext } from './context.ts'
import { faultTolerance } from './agree.ts'
import { quarantined } from './state.ts'

/**
 * Decodes a product round's results, remembering the last decode: the collect rule asks
 * "do these results decode?" (`enough`) and the answer for the final set is the decode
 * itself, so it is not computed twice. A peer that distrusts its own state leaves its own
 * result out.
 */
function createDecoder (ctx: TrainerContext, phase: Phase): { decode: (results: ReadonlyMap<number, Matrix>) => DecodeResult, enough: (results: ReadonlyMap<number, Matrix>) => boolean } {
  let last: { keys: string, result: DecodeResult } | null = null
  // Up to f faulty peers may coordinate on another code word: no decode rests on fewer than q + f.
  const colluders = faultTolerance(ctx.scheme)
  const decode = (all: ReadonlyMap<number, Matrix>): DecodeResult => {
    const excluded = (p: number): boolean => (p === ctx.self && ctx.state.distrustSelf) || quarantined(ctx.state, p)
    const results = [...all.keys()].some(excluded) ? new Map([...all].filter(([p]) => !excluded(p))) : all
    const keys = [...results.keys()].join(',')
    if (last !== null && last.keys === keys) return last.result
    const result = ctx.clock.timed('decodeMs', (): DecodeResult => {
      try {
        return ctx.scheme.decode(phase, results, { mode: ctx.config.errorModel, colluders })
      } catch (err) {
        return { ok: false, reason: (err as Error).message, suspects: [] }
      }
    })
    last = { keys, result }
    return result
  }
  return { decode, enough: results => decode(results).ok }
}

/** Encode the operand, multiply by this peer's shard, publish: the first half of a coded product round. */
export async function publishProduct (ctx: TrainerContext, phase: Phase, l: number, operand: Matrix): Promise<void> {
  const { scheme, self, geo, clock, state } = ctx
  const rows = phase === 'forward' ? geo.padded[l].cols : geo.padded[l].rows
  const enc = clock.timed('encodeMs', () => phase === 'forward'
    ? scheme.encodeForwardInput(padTo(operand, rows, operand.cols), self)
    : scheme.encodeBackwardInput(padTo(operand, rows, operand.cols), self))
  ctx.inject('encode', enc.data, l, phase)
  const payload = clock.timed('computeMs', () => scheme.compute(phase, state.layers[l].shard, enc))
  ctx.inject('matmul', payload.data, l, phase)
  await ctx.exchange.publish(roundKey(ctx, l, phase), payload)
}

/**
 * One coded matrix product round: W_l·A (forward) or W_lᵀ·Δ (backward). Publishes this
 * peer's share (unless `published` already), collects until the results decode (or the
 * round gives up), adds the peers the decoder flagged to `flagged`, and returns the
 * unpadded decode or null (uncorrectable).
 */
export async function codedProduct (ctx: TrainerContext, phase: Phase, l: number, operand: Matrix, flagged: Set<number>, published = false): Promise<Matrix | null> {
  const { self, geo, state } = ctx
  const key = roundKey(ctx, l, phase)
  if (!published) await publishProduct(ctx, phase, l, operand)
  const decoder = createDecoder(ctx, phase)
  const c = await ctx.round(key, null, ctx.policies.product(phase, decoder.enough, state.distrustSelf))
  const d = decoder.decode(c.results)
  const outRows = phase === 'forward' ? geo.shapes[l].rows : geo.shapes[l].cols
  const value = d.ok ? (d.value.rows === outRows ? d.value : rowSlice(d.value, 0, outRows)) : null
  if (d.ok) for (const f of d.faulty) flagged.add(f)
  else for (const s of d.suspects) if (s !== self) flagged.add(s)
  ctx.observer?.decoded?.({ peer: self, key, input: operand, value: value === null ? null : clone(value), flagged: d.ok ? [...d.faulty] : [...d.suspects] })
  if (value === null) ctx.log(`peer ${self} step ${state.step}/${state.attempt} ${phase} layer ${l}: uncorrectable (${d.ok ? '' : d.reason}; results from ${[...c.results.keys()].join(',')})`)
  if (value !== null) ctx.inject('decode', value.data, l, phase)
  return value
}

export interface Passes {
  /** A_0 = x, A_{l+1} = f(S_l): the inputs of every layer. */
  A: Matrix[]
  /** Pre-activations S_l = W_l·A_l + b_l. */
  S: Matrix[]
  /** Δ_l, the loss gradient at layer l's output. */
  deltas: Matrix[]
  loss: number
  correct: number
  /** Peers this peer's decoders flagged (never itself). */
  flagged: Set<number>
  /** Rounds this peer could not decode; after the first it abstains from the rest. */
  uncorrectable: number
}

/**
 * Forward through every layer, softmax + cross-entropy at the top, backward down to Δ_0.
 * `between` runs after the first round's result is published and before it is collected
 * (the previous step's agreement travels with it); when it returns false the step is
 * abandoned (null). After an uncorrectable round the peer stops: it cannot compute the
 * later rounds' inputs, and the others do not need its results (it is an erasure to them).
 */
export async function forwardBackward (ctx: TrainerContext, x: Matrix, labels: ArrayLike<number>, between?: () => Promise<boolean>): Promise<Passes | null> {
  const { config, geo, clock, state } = ctx
  const { L } = geo
  const act = activationRule(config.activation)
  const flagged = new Set<number>()
  const stopped = (): Passes => ({ A, S, deltas: [], loss: NaN, correct: 0, flagged, uncorrectable: 1 })
  const A: Matrix[] = [x]
  const S: Matrix[] = []
  await publishProduct(ctx, 'forward', 0, x)
  for (let l = 0; l < L; l++) {
    const s = await codedProduct(ctx, 'forward', l, A[l], flagged, l === 0)
    if (l === 0) {
      // The first decode of the step seeds the audit vectors: no peer knows it before it has
      // published its own product, i.e. committed its shard state (audit.ts).
      if (s !== null) state.auditSalt = auditSaltOf(s)
      if (between !== undefined && !(await between())) return null
    }
    if (s === null) return stopped()
    addBias(s, state.layers[l].bias)
    ctx.inject('bias', s.data, l)
    S.push(s)
    if (l < L - 1) {
      const a = clock.timed('computeMs', () => { const o = zeros(s.rows, s.cols); act.f(s.data, o.data); return o })
      ctx.inject('activation', a.data, l)
      A.push(a)
    }
  }
  const lossR = clock.timed('computeMs', () => softmaxCrossEntropy(S[L - 1], labels))
  const deltas: Matrix[] = new Array(L)
  deltas[L - 1] = lossR.grad
  ctx.inject('loss', lossR.grad.data, L - 1)
  for (let l = L - 1; l >= 1; l--) {
    const g = await codedProduct(ctx, 'backward', l, deltas[l], flagged)
    if (g === null) return stopped()
    const d = clock.timed('computeMs', () => {
      const fp = zeros(g.rows, g.cols)
      act.df(S[l - 1].data, fp.data)
      for (let i = 0; i < fp.data.length; i++) fp.data[i] *= g.data[i]
      return fp
    })
    ctx.inject('hadamard', d.data, l - 1)
    deltas[l - 1] = d
  }
  flagged.delete(ctx.self)
  return { A, S, deltas, loss: lossR.loss, correct: lossR.correct, flagged, uncorrectable: 0 }
}

/**
 * A digest of a decoded value that every honest peer computes alike: its first entries on a
 * grid of 2⁻¹⁶ of the largest magnitude (peers' decodes differ by rounding, ~1e-13 relative;
 * a grid crossing is ~1e-10 likely per entry), hashed.
 */
export function auditSaltOf (v: Matrix): number {
  const n = Math.min(v.data.length, 64)
  const max = maxAbs(v.data)
  if (!(max > 0) || !Number.isFinite(max)) return 0
  const q = max / 65536
  const cells: number[] = []
  for (let i = 0; i < n; i++) cells.push(Math.round(v.data[i] / q))
  return hashSeed('audit-salt', ...cells)
}

function rowSums (d: Matrix): Float64Array {
  const out = new Float64Array(d.rows)
  for (let r = 0; r < d.rows; r++) { let s = 0; for (let c = 0; c < d.cols; c++) s += d.data[r * d.cols + c]; out[r] = s }
  return out
}

/**
 * V~ ← μ·V~ + enc(Δ_l)·enc(A_l)ᵀ, W~ ← W~ − η·V~ (μ = 0: W~ −= η·enc(Δ)enc(A)ᵀ), in place
 * on the shard; b ← b − η·(μ·v_b + rowsum Δ).
 */
export function applyUpdates (ctx: TrainerContext, deltas: readonly Matrix[], inputs: readonly Matrix[], totalSteps: number): void {
  const { config, scheme, self, geo, state } = ctx
  const mu = config.momentum
  const lr = learningRate(config, state.step, totalSteps)
  ctx.clock.timed('computeMs', () => {
    for (let l = 0; l < geo.L; l++) {
      const st = state.layers[l]
      const dP = padTo(deltas[l], geo.padded[l].rows, deltas[l].cols)
      const xP = padTo(inputs[l], geo.padded[l].cols, inputs[l].cols)
      const g = rowSums(deltas[l])
      if (mu > 0) {
        // The two passes over the whole shard go through codes/matrix.ts rather than loops in
        // this closure (run once a step), which V8 compiled on-stack anew at every step. Same
        // rounding as w −= lr·v: (−lr)·v is −(lr·v) exactly, and w + (−x) is w − x.
        scale(st.velocity, mu, st.velocity)
        scheme.applyUpdate(st.velocity, dP, xP, -1, self)
        axpy(-lr, st.velocity, st.shard)
        for (let r = 0; r < g.length; r++) { st.biasVelocity[r] = mu * st.biasVelocity[r] + g[r]; st.bias[r] -= lr * st.biasVelocity[r] }
      } else {
        scheme.applyUpdate(st.shard, dP, xP, lr, self)
        for (let r = 0; r < g.length; r++) st.bias[r] -= lr * g[r]
      }
      ctx.inject('update', st.shard.data, l)
      ctx.inject('velocity', st.velocity.data, l)
      ctx.inject('bias-update', st.bias, l)
    }
  })
}
