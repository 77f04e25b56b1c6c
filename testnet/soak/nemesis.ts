/**
 * The soak's nemesis: from a seed alone, a random combination of faults for one simulated run.
 *
 *   soft errors   (60 % of seeds) rate 0.001–0.02, gaussian (σ 1, 0.01 or 100) or bitflip,
 *                 probabilistic or (25 %) adversarial, at every random site or at 1–3 of them
 *   network       each independently: loss (stream semantics 0.05–0.4; datagrams 0.01–0.05),
 *                 garbling 0.005–0.05 (σ 1 or 0.001), delay 0.05–0.5 × 5–300 ms,
 *                 duplicates 0.05–0.3, reordering 0.1–0.5, jitter 2–10 ms; datagram
 *                 semantics (40 % of the seeds with loss or garbling)
 *   faulty peers  up to f = ⌊(P − Q)/2⌋ of them (Q the larger recovery threshold of the code):
 *                 byzantine, lying voter, crash + restart, the minority side of a partition, or
 *                 a straggler — each a distinct peer, and counted as if all were faulty at
 *                 once (windows of crashes and partitions may or may not overlap). Random soft
 *                 errors and garbled results spend the same budget (each is a wrong result in
 *                 some round): with faulty peers drawn, soft errors are capped at rate 0.003
 *                 and garbled messages are retransmitted (stream semantics) rather than erased
 *   checkpoints   every 10, 20 or 50 steps
 *
 * The clean twin is the same config (seed, model, data order, code) with no soft errors and no
 * network or adversary faults. Every draw comes from createRng(seed, 'soak', …), so a seed
 * replays exactly.
 */
import { type TrainingConfig, trainingConfigFromFlags } from '../../training/config.ts'
import { describeFaultPlan, type FaultPlan } from '../../training/network-flags.ts'
import { createRng, permutation } from '../../training/rng.ts'
import { RANDOM_FAULT_SITES, type ErrorKind, type ErrorModel, type FaultSite } from '../../training/soft-errors.ts'
import { schemeForConfig } from '../../training/strategy.ts'

/** What every seed of a soak shares. */
export interface SoakBase {
  peers: number
  steps: number
  /** Layer widths, input first. */
  model: number[]
  batch: number
  dataset: 'synthetic' | 'mnist'
}

export const DEFAULT_SOAK_BASE: Readonly<SoakBase> = Object.freeze({ peers: 6, steps: 50, model: [16, 12, 8, 4], batch: 8, dataset: 'synthetic' })

export interface SoftErrorDraw {
  rate: number
  kind: ErrorKind
  model: ErrorModel
  magnitude: number
  /** Undefined: every random site. */
  sites?: FaultSite[]
}

export type PeerRole = 'byzantine' | 'lying' | 'crash' | 'partition' | 'straggler'
export const PEER_ROLES: readonly PeerRole[] = ['byzantine', 'lying', 'crash', 'partition', 'straggler']

export interface Nemesis {
  seed: number
  /** The run with faults. */
  config: TrainingConfig
  /** Its clean twin. */
  clean: TrainingConfig
  softErrors: SoftErrorDraw | null
  plan: FaultPlan
  /** Faults the code tolerates: ⌊(P − Q)/2⌋. */
  f: number
  /** Peer → its role, for the faulty peers drawn (at most f). */
  roles: Array<{ peer: number, role: PeerRole }>
  /** A short description of everything drawn. */
  text: string
}

/** ⌊(P − Q)/2⌋ with Q the larger of the forward and backward recovery thresholds. */
export function toleratedFaults (config: Pick<TrainingConfig, 'strategy' | 'peers' | 'code' | 'replicas'>): number {
  const s = schemeForConfig(config)
  const q = Math.max(s.recoveryThreshold.forward, s.recoveryThreshold.backward)
  return Math.max(0, Math.floor((config.peers - q) / 2))
}

function baseFlags (base: SoakBase, seed: number): Record<string, string> {
  return { peers: String(base.peers), steps: String(base.steps), model: base.model.join('-'), batch: String(base.batch), dataset: base.dataset, seed: String(seed) }
}

const short = (x: number): string => String(Number(x.toPrecision(3)))

export function describeSoftErrors (se: SoftErrorDraw | null): string {
  if (se === null) return ''
  return `soft ${short(se.rate)} ${se.kind}${se.kind === 'gaussian' ? ` σ${short(se.magnitude)}` : ''}${se.model === 'adversarial' ? ' adversarial' : ''} @${se.sites === undefined ? 'all' : se.sites.join(',')}`
}

export function drawNemesis (seed: number, base: SoakBase = DEFAULT_SOAK_BASE): Nemesis {
  const rng = createRng(seed, 'soak', 'nemesis')
  const chance = (p: number): boolean => rng.float() < p
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]
  const P = base.peers
  const steps = base.steps

  // Soft errors.
  let softErrors: SoftErrorDraw | null = null
  if (chance(0.6)) {
    const kind = pick(['gaussian', 'bitflip'] as const)
    const model = chance(0.25) ? 'adversarial' as const : 'probabilistic' as const
    const magnitude = kind === 'gaussian' ? pick([1, 1, 0.01, 100]) : 1
    const rate = pick([0.001, 0.003, 0.01, 0.02])
    let sites: FaultSite[] | undefined
    if (chance(0.5)) {
      const perm = permutation(RANDOM_FAULT_SITES.length, rng)
      sites = Array.from(perm.subarray(0, 1 + rng.int(3)), i => RANDOM_FAULT_SITES[i])
    }
    softErrors = { rate, kind, model, magnitude, ...(sites !== undefined ? { sites } : {}) }
  }

  // The network.
  const network: FaultPlan['network'] = {}
  const lossy = chance(0.35)
  const garbling = chance(0.25)
  const datagrams = (lossy || garbling) && chance(0.4)
  if (datagrams) network.datagrams = true
  if (lossy) network.dropRate = datagrams ? pick([0.01, 0.03, 0.05]) : pick([0.05, 0.2, 0.4])
  if (garbling) { network.corruptRate = pick([0.005, 0.02, 0.05]); network.corruptMagnitude = pick([1, 0.001]) }
  if (chance(0.3)) { network.delayRate = pick([0.05, 0.2, 0.5]); network.delayMs = pick([5, 30, 300]) }
  if (chance(0.25)) network.duplicateRate = pick([0.05, 0.3])
  if (chance(0.25)) network.reorderRate = pick([0.1, 0.5])
  if (chance(0.2)) network.jitterMs = pick([2, 10])
  const checkpointEvery = pick([10, 20, 50])

  const flags = { ...baseFlags(base, seed), 'checkpoint-every': String(checkpointEvery) }
  const clean = trainingConfigFromFlags(flags)
  const f = toleratedFaults(clean)

  // Faulty peers: at most f, distinct, all counted as simultaneous.
  const n = f === 0 ? 0 : chance(0.75) ? f : rng.int(f)
  const order = permutation(P, rng)
  const roles: Nemesis['roles'] = []
  for (let i = 0; i < n; i++) roles.push({ peer: order[i], role: pick(PEER_ROLES) })
  const plan: FaultPlan = { network, partitions: [], crashes: [], byzantinePeers: [], lyingVoters: [], ...(softErrors?.sites !== undefined ? { faultSites: softErrors.sites } : {}) }
  const minority: number[] = []
  for (const { peer, role } of roles) {
    switch (role) {
      case 'byzantine': plan.byzantinePeers.push(peer); break
      case 'lying': plan.lyingVoters.push(peer); break
      case 'straggler': network.stragglers = { ...(network.stragglers as Record<number, number> | undefined), [peer]: pick([3, 30, 300]) }; break
      case 'partition': minority.push(peer); break
      case 'crash': {
        // Back well before the end: the peer restarts, listens for a step and rejoins within the run.
        const atStep = 1 + rng.int(Math.max(1, steps - 12))
        const downSteps = 1 + rng.int(Math.max(1, Math.min(6, steps - 6 - atStep)))
        plan.crashes.push({ peer, atStep, downSteps })
        break
      }
    }
  }
  if (minority.length > 0) {
    const fromStep = 1 + rng.int(Math.max(1, steps - 12))
    const toStep = Math.min(steps - 1, fromStep + 2 + rng.int(10))
    plan.partitions.push({ fromStep, toStep, groups: [minority.sort((a, b) => a - b)] })
  }
  plan.byzantinePeers.sort((a, b) => a - b)
  plan.lyingVoters.sort((a, b) => a - b)
  // Faulty peers spend the tolerance; random wrong results must stay within what is left.
  if (roles.length > 0) {
    if (softErrors !== null) softErrors = { ...softErrors, rate: Math.min(softErrors.rate, 0.003) }
    if (garbling && network.datagrams === true) delete network.datagrams
  }
  const config = softErrors === null
    ? clean
    : trainingConfigFromFlags({ ...flags, 'error-rate': String(softErrors.rate), 'error-kind': softErrors.kind, 'error-model': softErrors.model, 'error-magnitude': String(softErrors.magnitude) })

  const parts = [describeSoftErrors(softErrors), describeFaultPlan({ ...plan, faultSites: undefined }), checkpointEvery !== 50 ? `ckpt ${checkpointEvery}` : '']
  const text = parts.filter(s => s !== '').join(' | ')
  return { seed, config, clean, softErrors, plan, f, roles, text: text === '' ? 'none' : text }
}
