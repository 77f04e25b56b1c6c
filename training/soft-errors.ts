/**
 * The soft-error injector: CodeNet's fault model, where every primary step a peer
 * performs can go wrong. A site is one peer's one operation in one round:
 *
 *   matmul      the peer's partial product W~_p·x~_p or W~_pᵀ·δ~_p (what it publishes)
 *   encode      the peer's encoded input x~_p / δ~_p (its product is then wrong)
 *   decode      the value the peer decoded (its own copy of W·X or Wᵀ·Δ)
 *   activation  the peer's A_l = f(S_l)
 *   hadamard    the peer's Δ_{l−1} = (Wᵀ·Δ_l) ⊙ f′(S_{l−1})
 *   update      the peer's coded shard after its in-place update
 *
 * With probability `rate` a site suffers one error:
 *   gaussian  every entry gets + magnitude·N(0,1) (a wrong result, as in the papers)
 *   bitflip   one uniformly chosen bit of one uniformly chosen entry flips (an upset)
 * Model `probabilistic`: error values are independent random draws. Model `adversarial`:
 * error values are correlated — every site hit in the same round gets the same error
 * pattern (scaled by the entry index, not random per peer) — and decoders are run in
 * adversarial mode, so only ⌊(R−Q)/2⌋ errors are corrected.
 *
 * Draws are keyed by (seed, peer, step, attempt, layer, site), not by a running stream,
 * so the same run injects the same faults whatever order peers execute in, and a round
 * retried after a rollback (new attempt) sees fresh draws. `injected` counts every error
 * actually written (a bit flip that leaves the value unchanged is impossible: one bit
 * always changes).
 */
import { createRng, hashSeed } from './rng.ts'

/** What a soft error does to the value it hits (the one list: flags, commands and help use it). */
export const ERROR_KINDS = ['gaussian', 'bitflip'] as const
export type ErrorKind = typeof ERROR_KINDS[number]

/** Independent draws, or correlated errors with adversarial decoding (see above). */
export const ERROR_MODELS = ['probabilistic', 'adversarial'] as const
export type ErrorModel = typeof ERROR_MODELS[number]

/**
 * Every operation of a peer that can go wrong (the fault model of CodeNet, and the protocol's):
 *   matmul      its partial product W~_p·x~ (or W~_pᵀ·δ~)
 *   encode      its encoded input x~_p / δ~_p
 *   decode      the value it decoded
 *   bias        its pre-activation after the bias add
 *   activation  its activation f(S)
 *   loss        its loss gradient Δ_{L−1}
 *   hadamard    its back-propagated Δ = G ⊙ f′(S)
 *   update      its shard W~_p after the update
 *   velocity    its coded momentum V~_p after the update
 *   bias-update its biases (and their momentum) after the update
 *   sketch      the audit sketch it sends
 *   repair      a shard it rebuilt from the others
 *   verdict     its vote (a lie: it claims the opposite and accuses an innocent peer)
 * Random soft errors strike every site but `verdict` unless `sites` says otherwise; a lying
 * voter is a Byzantine behaviour, injected only when asked for.
 */
export const FAULT_SITES = ['matmul', 'encode', 'decode', 'bias', 'activation', 'loss', 'hadamard', 'update', 'velocity', 'bias-update', 'sketch', 'repair', 'verdict'] as const
export type FaultSite = typeof FAULT_SITES[number]

/** Where random soft errors strike by default. */
export const RANDOM_FAULT_SITES: readonly FaultSite[] = FAULT_SITES.filter(s => s !== 'verdict')

/**
 * The soft-error defaults, in one place. `rate` is the training option's (`--error-rate`: no
 * soft errors unless asked); `commandRate` is what `codenet fault soft-error` injects without
 * `--rate` (a fault injected on purpose should show). `site` is where a peer's own or a
 * commanded soft error strikes when no site is named.
 */
export const DEFAULT_SOFT_ERRORS: Readonly<{
  rate: number
  commandRate: number
  kind: ErrorKind
  magnitude: number
  model: ErrorModel
  site: FaultSite
}> = Object.freeze({
  rate: 0,
  commandRate: 0.05,
  kind: 'gaussian',
  magnitude: 1,
  model: 'probabilistic',
  site: 'matmul'
})

export interface FaultContext {
  peer: number
  step: number
  attempt: number
  layer: number
  /** Distinguishes several sites of the same kind in one layer (forward/backward). */
  tag?: string
}

/** A fault that always fires (tests and scripted scenarios). */
export interface ScheduledFault {
  peer: number
  step: number
  site: FaultSite
  /** Any layer when absent. */
  layer?: number
  /** Only in this attempt of the step (default: the first time the step runs, attempt of any value once). */
  once?: boolean
  kind?: ErrorKind
  magnitude?: number
}

export interface FaultEvent extends FaultContext {
  site: FaultSite
  kind: ErrorKind
}

export interface FaultInjectorOptions {
  seed: number
  rate: number
  kind: ErrorKind
  magnitude: number
  model: ErrorModel
  /** Restrict random faults to these sites (default: all). */
  sites?: readonly FaultSite[]
  /** Restrict random faults to these peers (default: all). */
  peers?: readonly number[]
  schedule?: readonly ScheduledFault[]
}

export interface FaultInjector {
  readonly options: Readonly<FaultInjectorOptions>
  /** Maybe corrupt `data` in place; true when an error was written. */
  inject (site: FaultSite, data: Float64Array, ctx: FaultContext): boolean
  readonly injected: number
  readonly bySite: Readonly<Record<FaultSite, number>>
  readonly events: readonly FaultEvent[]
}

const flipBuf = new DataView(new ArrayBuffer(8))

/** Flip bit `bit` (0 = least significant mantissa bit, 63 = sign) of a float64. */
export function flipBit (v: number, bit: number): number {
  flipBuf.setFloat64(0, v)
  const byte = 7 - (bit >> 3)
  flipBuf.setUint8(byte, flipBuf.getUint8(byte) ^ (1 << (bit & 7)))
  return flipBuf.getFloat64(0)
}

export function createFaultInjector (options: FaultInjectorOptions): FaultInjector {
  const sites = new Set(options.sites ?? RANDOM_FAULT_SITES)
  const peers = options.peers === undefined ? null : new Set(options.peers)
  const bySite = Object.fromEntries(FAULT_SITES.map(s => [s, 0])) as Record<FaultSite, number>
  const events: FaultEvent[] = []
  const fired = new Set<number>()
  let injected = 0

  const corrupt = (data: Float64Array, kind: ErrorKind, magnitude: number, ctx: FaultContext, site: FaultSite): void => {
    if (data.length === 0) return
    // Adversarial: the same pattern for every site hit in this round (correlated errors).
    const key = options.model === 'adversarial'
      ? hashSeed(options.seed, 'fault-value', ctx.step, ctx.attempt, ctx.layer, site)
      : hashSeed(options.seed, 'fault-value', ctx.peer, ctx.step, ctx.attempt, ctx.layer, site, ctx.tag ?? '')
    const rng = createRng(key)
    if (kind === 'gaussian') {
      if (options.model === 'adversarial') {
        const sign = rng.float() < 0.5 ? -1 : 1
        for (let i = 0; i < data.length; i++) data[i] += sign * magnitude * (1 + (i % 7) / 7)
      } else {
        for (let i = 0; i < data.length; i++) data[i] += magnitude * rng.normal()
      }
    } else {
      const i = rng.int(data.length)
      data[i] = flipBit(data[i], rng.int(64))
    }
  }

  return {
    options,
    get injected () { return injected },
    bySite,
    events,
    inject (site, data, ctx) {
      let kind: ErrorKind | undefined
      let magnitude = options.magnitude
      if (options.schedule !== undefined) {
        options.schedule.forEach((f, idx) => {
          if (kind !== undefined || f.peer !== ctx.peer || f.step !== ctx.step || f.site !== site) return
          if (f.layer !== undefined && f.layer !== ctx.layer) return
          if (f.once !== false && fired.has(idx)) return
          fired.add(idx)
          kind = f.kind ?? options.kind
          magnitude = f.magnitude ?? options.magnitude
        })
      }
      if (kind === undefined && options.rate > 0 && sites.has(site) && (peers === null || peers.has(ctx.peer))) {
        const draw = createRng(options.seed, 'fault', ctx.peer, ctx.step, ctx.attempt, ctx.layer, site, ctx.tag ?? '').float()
        if (draw < options.rate) kind = options.kind
      }
      if (kind === undefined) return false
      corrupt(data, kind, magnitude, ctx, site)
      injected++
      bySite[site]++
      events.push({ ...ctx, site, kind })
      return true
    }
  }
}

/** An injector that never fires. */
export const noFaults = (): FaultInjector => createFaultInjector({ seed: 0, rate: 0, kind: DEFAULT_SOFT_ERRORS.kind, magnitude: 0, model: DEFAULT_SOFT_ERRORS.model })
