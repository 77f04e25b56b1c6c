/**
 * ONE peer's trainer: the I/O-free core that `simulate` runs P times over the in-memory
 * exchange and that a libp2p peer runs once over the network exchange.
 *
 *   const t = createPeerTrainer({ config, self, exchange, dataset, scheme?, faults?, observer?, log? })
 *   t.totalSteps                 steps this job trains for (epochs × steps per epoch, or --steps)
 *   await t.step()               one training step → StepReport (collective: every peer must call it)
 *   t.checkpoint()               this peer's state as a Checkpoint (serializeCheckpoint → bytes for disk)
 *   t.restore(checkpoint)        load a Checkpoint (refused when it belongs to another job or peer)
 *   await t.decodedWeights()     the uncoded model: a final audit (+ repairs), then every peer's shards are
 *                                decoded (collective rounds 'audit', 'audit-verdict', 'shard', 'weights')
 *   t.decodeModelFrom(shards)    the same, from shards gathered by other means (Map peer → per-layer shard)
 *   t.shards()                   this peer's coded shards, per layer
 *   t.currentStep, t.done        steps completed; whether training is over
 *   t.status()                   step, attempt, last verified checkpoint, counters
 *
 * A peer owns only its coded shards W~_p (and coded momentum V~_p) of every layer plus
 * replicated small state (biases and their momentum). Every "collective" call runs the
 * same sequence of exchange rounds on every peer; peers talk only through `Exchange`.
 *
 * One step at peer p (layers l = 0…L−1, W_l is N_{l+1} × N_l, padded to multiples of m, n):
 *   forward   x~ = enc_fwd(A_l, p); y = W~_l·x~; publish; collect Q_fwd…P; decode → S_l (+ bias)
 *             A_{l+1} = f(S_l); at the top softmax + cross-entropy → Δ_{L−1}
 *   backward  for l = L−1…1: δ~ = enc_bwd(Δ_l, p); y = W~_lᵀ·δ~; exchange; decode → G;
 *             Δ_{l−1} = G ⊙ f′(S_{l−1})
 *   verdict   publish {could not decode?, whom my decoders flagged}; echo the union; decide on
 *             the union of echoes: roll back (uncorrectable) / audit (someone flagged) / go on
 *   update    V~ ← μ·V~ + enc(Δ_l)·enc(A_l)ᵀ, W~ ← W~ − η·V~ (μ = 0: W~ −= η·enc(Δ)enc(A)ᵀ);
 *             b ← b − η·(μ·v_b + rowsum Δ). In place on the shard: never re-encoded.
 *   audit     when someone was flagged, and every K steps: each peer publishes a sketch
 *             [W~_l·r_l; V~_l·r_l] (shared seeded r_l) and its biases; `checkShards` names
 *             shards off the code word, the majority copy names wrong biases — each layer's
 *             W~, V~, bias and bias velocity on its own scale, at CLEAN_FRACTION of the
 *             decoders' tolerance, so no error a decoder would flag survives; a verdict
 *             round (union + echo) agrees on whom to repair; healthy peers send their shards
 *             (phase 'shard') and the repaired peer rebuilds its own with `repairShard`.
 *   checkpoint  after every audit that found (or left, after repair) every shard consistent —
 *             every K steps, and whenever a step had flagged peers: the state rollbacks return to.
 *   rollback  on an uncorrectable round every peer restores its last verified checkpoint
 *             and replays from there with attempt + 1 (fresh round keys, fresh fault draws).
 */
import { type Matrix, zeros } from '../codes/matrix.ts'
import type { CodeScheme, DecodeResult, Phase, ShardCheck } from '../codes/scheme.ts'
import { CLEAN_FRACTION } from '../codes/decode.ts'
import type { TrainingConfig } from './config.ts'
import type { Collected, CollectPolicy, Exchange, RoundKey } from './exchange.ts'
import type { Dataset } from './dataset.ts'
import { batchOf } from './dataset.ts'
import { activationRule } from './activations.ts'
import { softmaxCrossEntropy } from './loss.ts'
import { addBias, initModel, layerShapes, type LayerShape, type Model } from './model.ts'
import { BatchOrder } from './batches.ts'
import { type FaultInjector, type FaultSite, noFaults } from './faults.ts'
import { type Checkpoint, CheckpointError, cloneCheckpoint, type LayerState } from './checkpoint.ts'
import {
  auditVector, decodeVerdict, encodeVerdict, matVecInto,
  relativeDistance, unionVerdicts, type Verdict
} from './recovery.ts'
import { schemeForConfig } from './strategy.ts'
import { hashSeed } from './rng.ts'
import { learningRate, totalStepsOf } from './schedule.ts'

export interface DecodeObservation {
  peer: number
  key: RoundKey
  /** The unpadded operand this peer encoded: A_l (forward) or Δ_l (backward). */
  input: Matrix
  /** The unpadded accepted decode (before any local fault), or null when decoding failed. */
  value: Matrix | null
  flagged: number[]
}

export interface UpdateObservation {
  peer: number
  step: number
  attempt: number
  layer: number
  /** Unpadded Δ_l (N_{l+1} × B) and A_l (N_l × B) this peer updates with. */
  delta: Matrix
  x: Matrix
}

/** Hooks for a simulator holding the ground truth. Never needed in production. */
export interface TrainerObserver {
  decoded? (o: DecodeObservation): void
  updated? (o: UpdateObservation): void
}

export interface PeerTrainerOptions {
  config: TrainingConfig
  self: number
  exchange: Exchange
  dataset: Dataset
  /** Shared by all peers of a process (pure); built from the config when absent. */
  scheme?: CodeScheme
  faults?: FaultInjector
  observer?: TrainerObserver
  log?: (msg: string) => void
  /** Give up on a round after this long (ms, default 30 s). */
  timeoutMs?: number
  /** Fixed grace after the threshold is reached (ms); default: adaptive in the exchange. */
  graceMs?: number
  /** How long verdict rounds wait for the last peers once a majority is in (ms, default 2 s). */
  verdictGraceMs?: number
  /** Rollbacks in a row without passing a checkpoint before training is declared stalled (default 50). */
  maxConsecutiveRollbacks?: number
}

export interface StepTiming {
  computeMs: number
  encodeMs: number
  decodeMs: number
  waitMs: number
}

export interface StepReport {
  /** The step this call worked on. */
  step: number
  attempt: number
  outcome: 'ok' | 'rolled-back'
  /** Mean training loss of the batch at this peer (NaN when rolled back). */
  loss: number
  correct: number
  batch: number
  /** Peers this peer's decoders flagged during the step. */
  flagged: number[]
  /** Rounds this peer could not decode. */
  uncorrectable: number
  /** Agreed verdict of the step (same on every peer). */
  agreed: { rollback: boolean, flagged: number[] }
  /** Peers whose shards (or biases) were repaired after this step's audit (agreed). */
  repaired: number[]
  /** True when this peer's own state was rebuilt from the others. */
  repairedSelf: boolean
  audited: boolean
  /** Step of the checkpoint taken after this step, if any. */
  checkpointed: number | null
  /** Step of the checkpoint restored, when rolled back. */
  rolledBackTo: number | null
  timing: StepTiming
}

export interface TrainerStatus {
  self: number
  step: number
  attempt: number
  totalSteps: number
  lastCheckpointStep: number
  rollbacks: number
  repairs: number
  lastLoss: number
}

export interface PeerTrainer {
  readonly self: number
  readonly scheme: CodeScheme
  readonly totalSteps: number
  readonly stepsPerEpoch: number
  /** Steps completed (= the next step to run). */
  readonly currentStep: number
  readonly done: boolean
  step (): Promise<StepReport>
  checkpoint (): Checkpoint
  restore (c: Checkpoint): void
  decodedWeights (): Promise<Model>
  decodeModelFrom (shards: ReadonlyMap<number, readonly Matrix[]>): Model
  shards (): readonly Matrix[]
  status (): TrainerStatus
}

export class TrainerError extends Error {
  override name = 'TrainerError'
}

/** Every attempt since the last checkpoint was rolled back: the fault rate is beyond recovery. */
export class StalledError extends TrainerError {
  override name = 'StalledError'
}

/** A digest naming the job, so checkpoints of another job are refused. */
export function jobDigest (c: TrainingConfig): string {
  // What determines the parameters' meaning and trajectory; not run length or fault injection.
  const { peers, strategy, code, replicas, model, activation, batch, lr, momentum, seed, dataset } = c
  return hashSeed(JSON.stringify({ peers, strategy, code, replicas, model, activation, batch, lr, momentum, seed, dataset, lrSchedule: c.lrSchedule ?? 'cosine' })).toString(16)
}

export { totalStepsOf } from './schedule.ts'

const ceilTo = (x: number, k: number): number => Math.ceil(x / k) * k

function padRows (a: Matrix, rows: number): Matrix {
  if (a.rows === rows) return a
  const out = zeros(rows, a.cols)
  out.data.set(a.data)
  return out
}

/** The vector more than half of `peers` hold (within `tolerance` relative, default 1e-8), or null. */
export function majorityCopy (copies: ReadonlyMap<number, Float64Array>, peers: number, tolerance = 1e-8): Float64Array | null {
  const groups: Array<{ rep: Float64Array, votes: number }> = []
  for (const v of copies.values()) {
    const g = groups.find(x => x.rep.length === v.length && relativeDistance(v, x.rep) <= tolerance)
    if (g !== undefined) g.votes++
    else groups.push({ rep: v, votes: 1 })
  }
  const best = groups.reduce<{ rep: Float64Array, votes: number } | null>((b, g) => b === null || g.votes > b.votes ? g : b, null)
  return best !== null && 2 * best.votes > peers ? best.rep : null
}

function topRows (a: Matrix, rows: number): Matrix {
  if (a.rows === rows) return a
  return { rows, cols: a.cols, data: a.data.slice(0, rows * a.cols) }
}

const copy = (a: Matrix): Matrix => ({ rows: a.rows, cols: a.cols, data: a.data.slice() })

export function createPeerTrainer (opts: PeerTrainerOptions): PeerTrainer {
  const { config, self, exchange, dataset } = opts
  const scheme = opts.scheme ?? schemeForConfig(config)
  const faults = opts.faults ?? noFaults()
  const observer = opts.observer
  const log = opts.log ?? (() => {})
  const timeoutMs = opts.timeoutMs ?? 30_000
  const verdictGraceMs = opts.verdictGraceMs ?? 2_000
  const maxRollbacks = opts.maxConsecutiveRollbacks ?? 50
  const P = config.peers
  if (exchange.peers !== P) throw new TrainerError(`the exchange has ${exchange.peers} peers, the config ${P}`)
  if (self !== exchange.self) throw new TrainerError(`trainer is peer ${self} but its exchange is peer ${exchange.self}`)
  if (dataset.inputSize !== config.model[0]) throw new TrainerError(`dataset inputs are ${dataset.inputSize} wide, the model expects ${config.model[0]}`)
  if (dataset.classes !== config.model[config.model.length - 1]) throw new TrainerError(`dataset has ${dataset.classes} classes, the model outputs ${config.model[config.model.length - 1]}`)

  const { m, n } = scheme
  const mode = config.errorModel
  const act = activationRule(config.activation)
  const shapes: LayerShape[] = layerShapes(config.model)
  const L = shapes.length
  const padded = shapes.map(s => ({ rows: ceilTo(s.rows, m), cols: ceilTo(s.cols, n) }))
  const order = new BatchOrder(config.seed, dataset.train.count, config.batch)
  const totalSteps = totalStepsOf(config, order.stepsPerEpoch)
  const job = jobDigest(config)
  const mu = config.momentum
  // One notion of a significant error: decoders flag results beyond the scheme's tolerance;
  // audits hold state (shards, replicated biases) to CLEAN_FRACTION of it, the level the
  // decoder's ambiguity rule expects honest results to fit to.
  const tolOf = (ph: Phase | 'shard'): number => scheme.tolerance?.(ph) ?? 1e-9
  const ladder = (tol: number): number[] => [CLEAN_FRACTION * tol, Math.sqrt(CLEAN_FRACTION) * tol, tol]
  const auditLadder = ladder(tolOf('shard'))
  const stateLadder = ladder(Math.min(tolOf('forward'), tolOf('backward')))

  // Initial state: every peer draws the same W from the seed, keeps only its own shard.
  const init = initModel(config.model, config.activation, config.seed)
  let layers: LayerState[] = init.layers.map((layer, l) => {
    const w = padRows(layer.w, padded[l].rows)
    const wp = padded[l].cols === w.cols ? w : padCols(w, padded[l].cols)
    const shard = scheme.encodeShard(wp, self)
    return { shard, velocity: zeros(shard.rows, shard.cols), bias: layer.b.slice(), biasVelocity: new Float64Array(layer.b.length) }
  })
  let step = 0
  let attempt = 0
  let lastGood: Checkpoint = snapshot()
  let rollbacks = 0
  let consecutiveRollbacks = 0
  let repairs = 0
  let lastLoss = NaN

  function padCols (a: Matrix, cols: number): Matrix {
    const out = zeros(a.rows, cols)
    for (let r = 0; r < a.rows; r++) out.data.set(a.data.subarray(r * a.cols, (r + 1) * a.cols), r * cols)
    return out
  }

  function snapshot (): Checkpoint {
    return cloneCheckpoint({ peer: self, step, job, layers })
  }

  const t = { computeMs: 0, encodeMs: 0, decodeMs: 0, waitMs: 0 }
  const timed = <T>(what: keyof typeof t, fn: () => T): T => {
    const t0 = performance.now()
    try { return fn() } finally { t[what] += performance.now() - t0 }
  }

  const inject = (site: FaultSite, data: Float64Array, layer: number, tag?: string): void => {
    faults.inject(site, data, { peer: self, step, attempt, layer, tag })
  }

  const policy = (threshold: number, want = P): CollectPolicy =>
    ({ threshold: Math.min(threshold, P), want, timeoutMs, ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}) })

  /**
   * Verdict rounds wait for every peer (up to verdictGraceMs after a majority is in): a
   * verdict cut off by an impatient deadline would split the peers' decisions.
   */
  const verdictPolicy = (): CollectPolicy => ({ threshold: Math.ceil((P + 1) / 2), want: P, timeoutMs, graceMs: verdictGraceMs })

  async function round (key: RoundKey, payload: Matrix | null, pol: CollectPolicy, to?: readonly number[]): Promise<Collected> {
    if (payload !== null) await exchange.publish(key, payload, to)
    const c = await exchange.collect(key, pol)
    let w = 0
    for (const [from, ms] of c.arrivalMs) if (from !== self && ms > w) w = ms
    t.waitMs += c.timedOut ? pol.timeoutMs : w
    return c
  }

  function decodeResults (phase: Phase, c: Collected): DecodeResult {
    return timed('decodeMs', () => {
      try {
        return scheme.decode(phase, c.results, { mode })
      } catch (err) {
        return { ok: false, reason: (err as Error).message, suspects: [] }
      }
    })
  }

  /** One coded matrix product round; returns the unpadded decode or null (uncorrectable). */
  async function codedProduct (phase: Phase, l: number, operand: Matrix, abstain: boolean, flagged: Set<number>): Promise<Matrix | null> {
    const key: RoundKey = { step, layer: l, phase, attempt }
    const q = phase === 'forward' ? scheme.recoveryThreshold.forward : scheme.recoveryThreshold.backward
    let payload: Matrix | null = null
    if (!abstain) {
      const padTo = phase === 'forward' ? padded[l].cols : padded[l].rows
      const enc = timed('encodeMs', () => phase === 'forward'
        ? scheme.encodeForwardInput(padRows(operand, padTo), self)
        : scheme.encodeBackwardInput(padRows(operand, padTo), self))
      inject('encode', enc.data, l, phase)
      payload = timed('computeMs', () => scheme.compute(phase, layers[l].shard, enc))
      inject('matmul', payload.data, l, phase)
    }
    const c = await round(key, payload, policy(q))
    const d = decodeResults(phase, c)
    const outRows = phase === 'forward' ? shapes[l].rows : shapes[l].cols
    const value = d.ok ? topRows(d.value, outRows) : null
    if (d.ok) for (const f of d.faulty) flagged.add(f)
    else for (const s of d.suspects) if (s !== self) flagged.add(s)
    observer?.decoded?.({ peer: self, key, input: operand, value: value === null ? null : copy(value), flagged: d.ok ? [...d.faulty] : [...d.suspects] })
    if (value === null) log(`peer ${self} step ${step}/${attempt} ${phase} layer ${l}: uncorrectable (${d.ok ? '' : d.reason})`)
    if (value !== null) inject('decode', value.data, l, phase)
    return value
  }

  /** Two verdict rounds: publish mine, echo the union; decide on the union of echoes. */
  async function agree (phase: string, mine: Verdict, size = P): Promise<Verdict> {
    const collectAll = async (ph: string, v: Verdict): Promise<Verdict[]> => {
      const c = await round({ step, layer: -1, phase: ph, attempt }, encodeVerdict(v, size), verdictPolicy())
      const out: Verdict[] = []
      for (const mtx of c.results.values()) { const d = decodeVerdict(mtx, size); if (d !== null) out.push(d) }
      return out
    }
    const first = unionVerdicts(await collectAll(phase, mine))
    return unionVerdicts(await collectAll(`${phase}-echo`, first))
  }

  function rowSums (d: Matrix): Float64Array {
    const out = new Float64Array(d.rows)
    for (let r = 0; r < d.rows; r++) { let s = 0; for (let c = 0; c < d.cols; c++) s += d.data[r * d.cols + c]; out[r] = s }
    return out
  }

  function applyUpdates (deltas: Matrix[], inputs: Matrix[]): void {
    const lr = learningRate(config, step, totalSteps)
    timed('computeMs', () => {
      for (let l = 0; l < L; l++) {
        const st = layers[l]
        const dP = padRows(deltas[l], padded[l].rows)
        const xP = padRows(inputs[l], padded[l].cols)
        const g = rowSums(deltas[l])
        if (mu > 0) {
          const v = st.velocity.data
          for (let i = 0; i < v.length; i++) v[i] *= mu
          scheme.applyUpdate(st.velocity, dP, xP, -1, self)
          const w = st.shard.data
          for (let i = 0; i < w.length; i++) w[i] -= lr * v[i]
          for (let r = 0; r < g.length; r++) { st.biasVelocity[r] = mu * st.biasVelocity[r] + g[r]; st.bias[r] -= lr * st.biasVelocity[r] }
        } else {
          scheme.applyUpdate(st.shard, dP, xP, lr, self)
          for (let r = 0; r < g.length; r++) st.bias[r] -= lr * g[r]
        }
        inject('update', st.shard.data, l)
      }
    })
  }

  /**
   * Shard audit + repair. Returns the agreed set of repaired peers, or null when the audit
   * could not tell healthy shards from bad ones (then the caller rolls back).
   *
   * Judged per layer, per part (W~, V~, bias, bias velocity), each on its own scale, first at
   * the rounding level (CLEAN_FRACTION of the decoders' tolerance) so drift is repaired before
   * decoders could misjudge it; when errors of several sizes make that level undecidable,
   * again at looser levels up to the decoders' own tolerance. Only a part undecidable even
   * there — something the decoders would stumble on — rolls back.
   */
  async function audit (): Promise<{ repaired: number[], self: boolean } | null> {
    // Sketch of every layer's [W~; V~]·r, then every bias and bias velocity, in one column.
    const sketchLen = padded.reduce((s, p) => s + 2 * (p.rows / m), 0)
    const biasLen = shapes.reduce((s, sh) => s + 2 * sh.rows, 0)
    const payload = zeros(sketchLen + biasLen, 1)
    let off = 0
    for (let l = 0; l < L; l++) {
      const r = auditVector(config.seed, step, attempt, l, layers[l].shard.cols)
      matVecInto(layers[l].shard, r, payload.data, off); off += layers[l].shard.rows
      matVecInto(layers[l].velocity, r, payload.data, off); off += layers[l].shard.rows
    }
    for (const st of layers) { payload.data.set(st.bias, off); off += st.bias.length; payload.data.set(st.biasVelocity, off); off += st.bias.length }
    const c = await round({ step, layer: -1, phase: 'audit', attempt }, payload, policy(Math.min(P, m * n)))
    const sketches = new Map<number, Float64Array>()
    const biases = new Map<number, Float64Array>()
    for (const [p, mt] of c.results) {
      if (mt.rows !== sketchLen + biasLen || mt.cols !== 1) continue
      sketches.set(p, mt.data.subarray(0, sketchLen))
      biases.set(p, mt.data.subarray(sketchLen))
    }
    // Verdict indices: l·P + p = peer p's layer-l shard is off the code word; L·P + p = its
    // biases are wrong. Per layer, so a layer is rebuilt from the peers healthy in that layer.
    const BIAS = L * P
    const flagged = new Set<number>()
    for (const p of c.results.keys()) {
      if (!sketches.has(p)) { for (let l = 0; l < L; l++) flagged.add(l * P + p); flagged.add(BIAS + p) }
    }
    let undecidable = false
    let soff = 0
    for (let l = 0; l < L; l++) {
      const rows = padded[l].rows / m
      for (let part = 0; part < 2; part++, soff += rows) {
        const slice = new Map<number, Matrix>()
        for (const [p, sk] of sketches) slice.set(p, { rows, cols: 1, data: sk.subarray(soff, soff + rows) })
        let check: ShardCheck = { consistent: false, faulty: [], decidable: false }
        for (const tol of auditLadder) {
          check = timed('decodeMs', () => {
            try { return scheme.checkShards(slice, { tolerance: tol }) } catch { return { consistent: false, faulty: [], decidable: false } }
          })
          if (check.decidable || check.consistent) break
        }
        for (const f of check.faulty) flagged.add(l * P + f)
        // Too few shards to judge at all (uncoded, or many missing) is not a reason to roll back.
        if (!check.decidable && !check.consistent && slice.size > m * n) {
          undecidable = true
          log(`peer ${self} step ${step}/${attempt} audit: layer ${l} ${part === 0 ? 'weights' : 'velocity'} undecidable (suspects ${check.faulty.join(',')})`)
        }
      }
    }
    // Replicated state: the copy a strict majority holds is the reference; an element-wise
    // median is not enough once several peers hold different wrong copies.
    const biasRef = new Float64Array(biasLen)
    let boff = 0
    for (let l = 0; l < L; l++) {
      for (let part = 0; part < 2; part++, boff += shapes[l].rows) {
        const slice = new Map<number, Float64Array>()
        for (const [p, b] of biases) slice.set(p, b.subarray(boff, boff + shapes[l].rows))
        if (slice.size === 0) continue
        let ref: Float64Array | null = null
        let tol = 0
        for (tol of stateLadder) { ref = majorityCopy(slice, P, tol); if (ref !== null) break }
        if (ref === null) {
          undecidable = true
          log(`peer ${self} step ${step}/${attempt} audit: no majority copy of layer ${l} ${part === 0 ? 'bias' : 'bias velocity'}`)
          continue
        }
        biasRef.set(ref, boff)
        for (const [p, b] of slice) if (relativeDistance(b, ref) > tol) flagged.add(BIAS + p)
      }
    }

    // Agree on whom to repair. Union + echo (as for step verdicts): a peer that saw a message
    // garbled in transit adds a harmless extra repair; everyone still reaches the same decision.
    const agreed = await agree('audit-verdict', { uncorrectable: undecidable, flagged }, (L + 1) * P)
    if (agreed.uncorrectable) return null
    const badIn = Array.from({ length: L }, (_, l) => [...agreed.flagged].filter(i => i >= l * P && i < (l + 1) * P).map(i => i - l * P).sort((x, y) => x - y))
    const biasTargets = [...agreed.flagged].filter(i => i >= BIAS).map(i => i - BIAS)
    const targets = [...new Set([...badIn.flat(), ...biasTargets])].sort((a, b) => a - b)
    if (targets.length === 0) return { repaired: [], self: false }
    for (let l = 0; l < L; l++) {
      if (badIn[l].length > P - m * n) { log(`peer ${self} step ${step}/${attempt} audit: ${badIn[l].length} bad shards of layer ${l}, too many to repair`); return null }
    }
    let fixedSelf = false
    for (let l = 0; l < L; l++) {
      if (badIn[l].length === 0) continue
      const st = layers[l]
      const bad = new Set(badIn[l])
      const amTarget = bad.has(self)
      const stacked = amTarget ? null : { rows: 2 * st.shard.rows, cols: st.shard.cols, data: concat(st.shard.data, st.velocity.data) }
      const sc = await round({ step, layer: l, phase: 'shard', attempt }, stacked, amTarget ? policy(m * n, P - bad.size) : policy(1, 1), badIn[l])
      if (!amTarget) continue
      const healthy = new Map([...sc.results].filter(([p]) => !bad.has(p)))
      try {
        const rebuilt = timed('decodeMs', () => scheme.repairShard(healthy, self))
        const half = st.shard.data.length
        if (rebuilt.data.length !== 2 * half) throw new Error('repaired shard has the wrong size')
        st.shard.data.set(rebuilt.data.subarray(0, half))
        st.velocity.data.set(rebuilt.data.subarray(half))
        fixedSelf = true
      } catch (err) {
        log(`peer ${self} step ${step}: could not repair layer ${l}: ${(err as Error).message}`)
      }
    }
    if (targets.includes(self)) {
      // Replicated state: take the majority's copy.
      let o = 0
      for (const st of layers) { st.bias.set(biasRef.subarray(o, o + st.bias.length)); o += st.bias.length; st.biasVelocity.set(biasRef.subarray(o, o + st.bias.length)); o += st.bias.length }
      fixedSelf = true
    }
    return { repaired: targets, self: fixedSelf }
  }

  function concat (a: Float64Array, b: Float64Array): Float64Array {
    const out = new Float64Array(a.length + b.length)
    out.set(a); out.set(b, a.length)
    return out
  }

  function restoreFrom (c: Checkpoint): void {
    if (c.job !== job) throw new CheckpointError(`checkpoint belongs to job ${c.job}, this job is ${job}`)
    if (c.peer !== self) throw new CheckpointError(`checkpoint is peer ${c.peer}'s, this is peer ${self}`)
    if (c.layers.length !== L) throw new CheckpointError(`checkpoint has ${c.layers.length} layers, the model ${L}`)
    c.layers.forEach((ls, l) => {
      const want = { rows: padded[l].rows / m, cols: padded[l].cols / n }
      if (ls.shard.rows !== want.rows || ls.shard.cols !== want.cols || ls.bias.length !== shapes[l].rows) {
        throw new CheckpointError(`checkpoint layer ${l} has the wrong shape`)
      }
    })
    layers = cloneCheckpoint(c).layers
    step = c.step
  }

  async function runStep (): Promise<StepReport> {
    if (step >= totalSteps) throw new TrainerError(`training is done (${totalSteps} steps)`)
    t.computeMs = 0; t.encodeMs = 0; t.decodeMs = 0; t.waitMs = 0
    const thisStep = step
    const thisAttempt = attempt
    const flagged = new Set<number>()
    let uncorrectable = 0
    const { x, labels } = batchOf(dataset.train, dataset.inputSize, order.indices(step))

    // Forward.
    const A: Matrix[] = [x]
    const S: Matrix[] = []
    let abstain = false
    for (let l = 0; l < L; l++) {
      const dec = await codedProduct('forward', l, A[l], abstain, flagged)
      let s: Matrix
      if (dec === null) { uncorrectable++; abstain = true; s = zeros(shapes[l].rows, config.batch) } else s = dec
      addBias(s, layers[l].bias)
      S.push(s)
      if (l < L - 1) {
        const a = timed('computeMs', () => { const o = zeros(s.rows, s.cols); act.f(s.data, o.data); return o })
        inject('activation', a.data, l)
        A.push(a)
      }
    }
    const lossR = timed('computeMs', () => softmaxCrossEntropy(S[L - 1], labels))
    const deltas: Matrix[] = new Array(L)
    deltas[L - 1] = lossR.grad
    // Backward.
    for (let l = L - 1; l >= 1; l--) {
      const g = await codedProduct('backward', l, deltas[l], abstain, flagged)
      let d: Matrix
      if (g === null) { uncorrectable++; abstain = true; d = zeros(shapes[l].cols, config.batch) } else {
        d = timed('computeMs', () => {
          const fp = zeros(g.rows, g.cols)
          act.df(S[l - 1].data, fp.data)
          for (let i = 0; i < fp.data.length; i++) fp.data[i] *= g.data[i]
          return fp
        })
        inject('hadamard', d.data, l - 1)
      }
      deltas[l - 1] = d
    }
    flagged.delete(self)
    const verdict = await agree('verdict', { uncorrectable: uncorrectable > 0, flagged })
    const report: StepReport = {
      step: thisStep,
      attempt: thisAttempt,
      outcome: 'ok',
      loss: lossR.loss,
      correct: lossR.correct,
      batch: config.batch,
      flagged: [...flagged].sort((a, b) => a - b),
      uncorrectable,
      agreed: { rollback: verdict.uncorrectable, flagged: [...verdict.flagged].sort((a, b) => a - b) },
      repaired: [],
      repairedSelf: false,
      audited: false,
      checkpointed: null,
      rolledBackTo: null,
      timing: t
    }
    const rollback = (): StepReport => {
      restoreFrom(lastGood)
      attempt++
      rollbacks++
      if (++consecutiveRollbacks > maxRollbacks) throw new StalledError(`${consecutiveRollbacks} rollbacks in a row to step ${lastGood.step}: training makes no progress at this fault rate`)
      exchange.prune(Math.min(thisStep, step))
      log(`peer ${self}: rolled back from step ${thisStep} to ${lastGood.step}`)
      return { ...report, outcome: 'rolled-back', loss: NaN, correct: 0, rolledBackTo: lastGood.step, timing: { ...t } }
    }
    if (verdict.uncorrectable) return rollback()

    for (let l = 0; l < L; l++) observer?.updated?.({ peer: self, step, attempt, layer: l, delta: deltas[l], x: A[l] })
    applyUpdates(deltas, A)
    const checkpointDue = (step + 1) % config.checkpointEvery === 0
    if (verdict.flagged.size > 0 || checkpointDue) {
      report.audited = true
      const a = await audit()
      if (a === null) return rollback()
      report.repaired = a.repaired
      report.repairedSelf = a.self
      if (a.self) repairs++
    }
    step++
    lastLoss = lossR.loss
    // Every audit that passed (after its repairs) leaves a verified state: checkpoint it, so
    // at high fault rates (audits nearly every step) a rollback loses little work.
    if (checkpointDue || report.audited) {
      consecutiveRollbacks = 0
      lastGood = snapshot()
      report.checkpointed = step
      exchange.prune(step)
    }
    report.timing = { ...t }
    return report
  }

  /** Decode the full model from per-peer shards (each a list of per-layer shards). */
  function decodeModelFrom (all: ReadonlyMap<number, readonly Matrix[]>): Model {
    const out: Model = { activation: config.activation, layers: [] }
    for (let l = 0; l < L; l++) {
      const shardsL = new Map<number, Matrix>()
      for (const [p, s] of all) if (s[l] !== undefined) shardsL.set(p, s[l])
      const w = scheme.decodeWeights(shardsL)
      const exact = { rows: shapes[l].rows, cols: shapes[l].cols, data: new Float64Array(shapes[l].rows * shapes[l].cols) }
      for (let r = 0; r < exact.rows; r++) exact.data.set(w.data.subarray(r * w.cols, r * w.cols + exact.cols), r * exact.cols)
      out.layers.push({ w: exact, b: layers[l].bias.slice() })
    }
    return out
  }

  return {
    self,
    scheme,
    totalSteps,
    stepsPerEpoch: order.stepsPerEpoch,
    get currentStep () { return step },
    get done () { return step >= totalSteps },
    step: runStep,
    checkpoint: () => cloneCheckpoint(snapshot()),
    restore: (c: Checkpoint) => { restoreFrom(c); lastGood = cloneCheckpoint(c) },
    async decodedWeights () {
      // A last audit first: a shard corrupted in the final step has had no later round to
      // be flagged in. An undecidable audit is left to decodeWeights to report.
      await audit()
      const all = new Map<number, Matrix[]>()
      for (let l = 0; l < L; l++) {
        // Wait for every shard (not just m·n): the spare ones let the decoder outvote a bad one.
        const c = await round({ step, layer: l, phase: 'weights', attempt }, layers[l].shard, { threshold: Math.min(P, m * n), want: P, timeoutMs, graceMs: verdictGraceMs })
        for (const [p, s] of c.results) {
          let list = all.get(p)
          if (list === undefined) { list = []; all.set(p, list) }
          list[l] = s
        }
      }
      return decodeModelFrom(all)
    },
    decodeModelFrom,
    shards: () => layers.map(l => l.shard),
    status: () => ({ self, step, attempt, totalSteps, lastCheckpointStep: lastGood.step, rollbacks, repairs, lastLoss })
  }
}
