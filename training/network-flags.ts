/**
 * The network and adversary fault flags shared by `codenet simulate`, `codenet testnet` and
 * `codenet soak`: their parseArgs options, their --help text, their parsing and validation
 * (a bad value is a ConfigError with one line naming the flag), and which of them a real
 * testnet can honour.
 *
 *   --drop-rate p            per-transmission loss (stream semantics: a lost message is sent
 *                            again, so loss shows as delay; --datagrams: a lost product
 *                            result is an erasure)
 *   --datagrams              lost or garbled product results are gone, not retransmitted
 *   --delay-ms T             extra delay of a delayed message (network default 10 ms); alone,
 *                            every message is delayed (rate 1)
 *   --delay-rate p           probability that a message is delayed
 *   --jitter-ms J            uniform jitter on the 1 ms latency (default 0.5)
 *   --duplicate-rate p       a message arrives twice
 *   --reorder-rate p         a message gets a random extra delay that reorders it
 *   --corrupt-rate p         a message is garbled in transit (gaussian noise of σ
 *                            --corrupt-magnitude, default 1; with stream semantics a checksum
 *                            catches it and it is sent again)
 *   --straggler I:MS         peer I's every message is MS ms late (repeatable)
 *   --partition [A-B:]GROUPS while the network computes steps [A, B) results cross only within
 *                            groups, e.g. `10-20:0,1,2|3,4,5`; `10-:…` to the end, no range:
 *                            the whole run; peers in no group form one more (repeatable)
 *   --crash I@S+D            peer I dies when the network reaches step S and restarts D steps
 *                            later from its last verified checkpoint (repeatable)
 *   --lying-voters K|LIST    K peers (drawn from the seed) or the listed ones (`1,4`; one
 *                            peer: `4,`) lie in every vote
 *   --byzantine-peers K|LIST K peers or the listed ones publish coherently wrong products
 *   --fault-site S           random soft errors (--error-rate) strike only these sites (repeatable)
 *
 * The module is the training layer's: it imports nothing from testnet/.
 */
import { ConfigError, type TrainingConfig } from './config.ts'
import type { MemoryNetworkOptions } from './memory-exchange.ts'
import type { Crash, Partition, SimulateOptions } from './simulate.ts'
import { FAULT_SITES, type FaultSite } from './soft-errors.ts'
import { createRng, permutation } from './rng.ts'

/** parseArgs options of the fault flags. */
export const FAULT_FLAG_OPTIONS = {
  'drop-rate': { type: 'string' },
  datagrams: { type: 'boolean' },
  'delay-ms': { type: 'string' },
  'delay-rate': { type: 'string' },
  'jitter-ms': { type: 'string' },
  'duplicate-rate': { type: 'string' },
  'reorder-rate': { type: 'string' },
  'corrupt-rate': { type: 'string' },
  'corrupt-magnitude': { type: 'string' },
  straggler: { type: 'string', multiple: true },
  partition: { type: 'string', multiple: true },
  crash: { type: 'string', multiple: true },
  'lying-voters': { type: 'string' },
  'byzantine-peers': { type: 'string' },
  'fault-site': { type: 'string', multiple: true }
} as const

export type FaultFlagName = keyof typeof FAULT_FLAG_OPTIONS
export const FAULT_FLAG_NAMES = Object.keys(FAULT_FLAG_OPTIONS) as FaultFlagName[]

/** The fault flags' values as parseArgs returns them. */
export interface RawFaultFlags {
  'drop-rate'?: string
  datagrams?: boolean
  'delay-ms'?: string
  'delay-rate'?: string
  'jitter-ms'?: string
  'duplicate-rate'?: string
  'reorder-rate'?: string
  'corrupt-rate'?: string
  'corrupt-magnitude'?: string
  straggler?: string[]
  partition?: string[]
  crash?: string[]
  'lying-voters'?: string
  'byzantine-peers'?: string
  'fault-site'?: string[]
}

/** The fault flags out of parseArgs' values (anything else is ignored). */
export function rawFaultFlags (values: Record<string, unknown>): RawFaultFlags {
  const out: Record<string, unknown> = {}
  for (const n of FAULT_FLAG_NAMES) if (values[n] !== undefined) out[n] = values[n]
  return out as RawFaultFlags
}

export const FAULT_FLAGS_HELP = `Network and adversary faults (simulate; see docs/reliability.md for what codenet testnet honours):
  --drop-rate p             per-transmission loss; by default a stream transport: a lost message is
                            sent again, so loss shows as delay
  --datagrams               lost or garbled product results are gone (erasures), not retransmitted
  --delay-rate p            probability that a message is delayed by --delay-ms
  --delay-ms T              the delay (10); alone: every message (--delay-rate 1)
  --jitter-ms J             uniform jitter on the 1 ms link latency (0.5)
  --duplicate-rate p        a message arrives twice
  --reorder-rate p          a message gets a random extra delay that reorders it
  --corrupt-rate p          a message is garbled in transit (noise of σ --corrupt-magnitude, 1)
  --straggler I:MS          peer I's messages are MS ms late (repeatable)
  --partition [A-B:]GROUPS  during steps [A, B) results cross only within groups, e.g.
                            10-20:0,1,2|3,4,5 (A-: to the end; no range: the whole run);
                            peers in no group form one more group (repeatable)
  --crash I@S+D             peer I dies at step S, restarts D steps later from its checkpoint (repeatable)
  --byzantine-peers K|L     K peers drawn from the seed, or the list L (1,4; one peer: 4,) publish
                            coherently wrong products
  --lying-voters K|L        K peers (or the list L) lie in every vote
  --fault-site S            random soft errors strike only site S (repeatable): ${FAULT_SITES.join('|')}`

/** What the fault flags ask of a run: SimulateOptions' fault fields, validated. */
export interface FaultPlan {
  network: Omit<MemoryNetworkOptions, 'peers' | 'seed'>
  partitions: Partition[]
  crashes: Crash[]
  byzantinePeers: number[]
  lyingVoters: number[]
  /** Undefined: every random site. */
  faultSites?: FaultSite[]
}

export const EMPTY_FAULT_PLAN: Readonly<FaultPlan> = Object.freeze({ network: {}, partitions: [], crashes: [], byzantinePeers: [], lyingVoters: [] })

export interface FaultPlanContext {
  config: Pick<TrainingConfig, 'peers' | 'seed' | 'errorRate'>
  /** Steps of the run, to check crash and partition schedules against (null: not checked). */
  totalSteps: number | null
}

const MAX_MS = 600_000

function rate (flag: string, v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${flag} must be a probability between 0 and 1, got '${v}'`)
  if (n < 0 || n > 1) throw new ConfigError(`--${flag} must be a probability between 0 and 1, got ${n}`)
  return n
}

function ms (flag: string, v: string, max = MAX_MS): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${flag} must be a number of milliseconds, got '${v}'`)
  if (n < 0 || n > max) throw new ConfigError(`--${flag} must be between 0 and ${max} ms, got ${n}`)
  return n
}

function whole (flag: string, what: string, v: string, min: number, max: number, spec: string): number {
  if (!/^\d+$/.test(v.trim())) throw new ConfigError(`--${flag} ${spec}: ${what} must be a whole number, got '${v}'`)
  const n = Number(v)
  if (n < min || n > max) throw new ConfigError(`--${flag} ${spec}: ${what} must be between ${min} and ${max}, got ${n}`)
  return n
}

function peerIndex (flag: string, v: string, peers: number, spec: string): number {
  return whole(flag, 'the peer', v, 0, peers - 1, spec)
}

/** `I:MS` */
export function parseStraggler (v: string, peers: number): [number, number] {
  const m = /^([^:]*):(.*)$/.exec(v.trim())
  if (m === null) throw new ConfigError(`--straggler must look like PEER:MS (e.g. 2:300), got '${v}'`)
  return [peerIndex('straggler', m[1], peers, v), ms('straggler', m[2])]
}

/** `GROUPS`, `A-:GROUPS` or `A-B:GROUPS`; GROUPS = `0,1,2|3,4,5`. */
export function parsePartition (v: string, peers: number, totalSteps: number | null): Partition {
  const s = v.trim()
  const m = /^(?:([^:|,]*)-([^:|,]*):)?(.+)$/.exec(s)
  if (m === null || s.endsWith(':')) throw new ConfigError(`--partition must look like FROM-TO:GROUPS (e.g. 10-20:0,1,2|3,4,5), got '${v}'`)
  let fromStep = 0
  let toStep = Number.POSITIVE_INFINITY
  if (m[1] !== undefined) {
    fromStep = whole('partition', 'FROM', m[1], 0, 1e9, `'${v}'`)
    if (m[2] !== '') toStep = whole('partition', 'TO', m[2], 1, 1e9, `'${v}'`)
    if (toStep <= fromStep) throw new ConfigError(`--partition '${v}': TO must be after FROM (steps [FROM, TO))`)
    if (totalSteps !== null && fromStep >= totalSteps) throw new ConfigError(`--partition '${v}': FROM ${fromStep} is at or after the end of the run (${totalSteps} steps)`)
  }
  if (m[3].includes(':')) throw new ConfigError(`--partition must look like FROM-TO:GROUPS (e.g. 10-20:0,1,2|3,4,5), got '${v}'`)
  const seen = new Set<number>()
  const groups = m[3].split('|').map(g => {
    if (g.trim() === '') throw new ConfigError(`--partition '${v}': an empty group (groups are comma lists of peers separated by |)`)
    return g.split(',').map(p => {
      const i = peerIndex('partition', p, peers, `'${v}'`)
      if (seen.has(i)) throw new ConfigError(`--partition '${v}': peer ${i} is in two groups`)
      seen.add(i)
      return i
    })
  })
  const sides = groups.length + (seen.size < peers ? 1 : 0)
  if (sides < 2) throw new ConfigError(`--partition '${v}': the groups put every peer on one side; name at least two groups, or leave some peers out of the groups`)
  return { fromStep, toStep, groups }
}

/** `I@S+D` */
export function parseCrash (v: string, peers: number, totalSteps: number | null): Crash {
  const m = /^([^@]*)@([^+]*)\+(.*)$/.exec(v.trim())
  if (m === null) throw new ConfigError(`--crash must look like PEER@STEP+DOWN (e.g. 3@10+5), got '${v}'`)
  const peer = peerIndex('crash', m[1], peers, `'${v}'`)
  const atStep = whole('crash', 'STEP', m[2], 0, 1e9, `'${v}'`)
  const downSteps = whole('crash', 'DOWN', m[3], 1, 1e9, `'${v}'`)
  if (totalSteps !== null && atStep + downSteps >= totalSteps) {
    throw new ConfigError(`--crash '${v}': the peer would come back at step ${atStep + downSteps}, not before the end of the run (${totalSteps} steps); a crashed peer must restart within the run`)
  }
  return { peer, atStep, downSteps }
}

type PeerChoice = { count: number } | { list: number[] }

/** `K` (a count) or a list `1,4` / `4,`. */
export function parsePeerChoice (flag: string, v: string, peers: number): PeerChoice {
  const s = v.trim()
  if (!s.includes(',')) {
    if (!/^\d+$/.test(s)) throw new ConfigError(`--${flag} must be a number of peers K or a list of peers like 1,4 (one peer: 4,), got '${v}'`)
    const k = Number(s)
    if (k > peers - 1) throw new ConfigError(`--${flag} must be at most ${peers - 1} (P − 1: at least one honest peer), got ${k}`)
    return { count: k }
  }
  const parts = s.split(',')
  if (parts[parts.length - 1].trim() === '') parts.pop()
  const list: number[] = []
  for (const p of parts) {
    const i = peerIndex(flag, p, peers, `'${v}'`)
    if (list.includes(i)) throw new ConfigError(`--${flag} '${v}': peer ${i} is listed twice`)
    list.push(i)
  }
  if (list.length > peers - 1) throw new ConfigError(`--${flag} '${v}': at most ${peers - 1} peers (P − 1: at least one honest peer)`)
  return { list }
}

/** `k` distinct peers out of `candidates`, deterministic from the seed and a label. */
export function drawPeers (seed: number, label: string, k: number, candidates: readonly number[]): number[] {
  const perm = permutation(candidates.length, createRng(seed, 'fault-flags', label))
  return Array.from(perm.subarray(0, k), i => candidates[i]).sort((a, b) => a - b)
}

/** Byzantine peers and lying voters: explicit lists as given; counts drawn from the seed, disjoint from the other role. */
function resolveAdversaries (raw: RawFaultFlags, peers: number, seed: number): { byzantinePeers: number[], lyingVoters: number[] } {
  const byz = raw['byzantine-peers'] === undefined ? null : parsePeerChoice('byzantine-peers', raw['byzantine-peers'], peers)
  const liars = raw['lying-voters'] === undefined ? null : parsePeerChoice('lying-voters', raw['lying-voters'], peers)
  const all = Array.from({ length: peers }, (_, i) => i)
  let byzantinePeers = byz !== null && 'list' in byz ? byz.list : []
  let lyingVoters = liars !== null && 'list' in liars ? liars.list : []
  if (byz !== null && 'count' in byz) byzantinePeers = drawPeers(seed, 'byzantine-peers', byz.count, all.filter(p => !lyingVoters.includes(p)))
  if (liars !== null && 'count' in liars) {
    const rest = all.filter(p => !byzantinePeers.includes(p))
    if (liars.count > rest.length - 1 && liars.count > 0) {
      throw new ConfigError(`--lying-voters ${liars.count} with ${byzantinePeers.length} byzantine peers: at most ${Math.max(0, rest.length - 1)} more faulty peers out of ${peers} (at least one honest peer)`)
    }
    lyingVoters = drawPeers(seed, 'lying-voters', liars.count, rest)
  }
  if (byz !== null && 'count' in byz && byzantinePeers.length < byz.count) {
    throw new ConfigError(`--byzantine-peers ${byz.count} with ${lyingVoters.length} lying voters: only ${byzantinePeers.length} peers left`)
  }
  const faulty = new Set([...byzantinePeers, ...lyingVoters])
  if (faulty.size > peers - 1) throw new ConfigError(`--byzantine-peers and --lying-voters together name ${faulty.size} of ${peers} peers; at least one must be honest`)
  return { byzantinePeers, lyingVoters }
}

/** Parse and validate the fault flags against the run. Throws ConfigError naming the flag. */
export function faultPlanFromFlags (raw: RawFaultFlags, ctx: FaultPlanContext): FaultPlan {
  const P = ctx.config.peers
  const network: FaultPlan['network'] = {}
  if (raw['drop-rate'] !== undefined) network.dropRate = rate('drop-rate', raw['drop-rate'])
  if (raw.datagrams === true) network.datagrams = true
  if (raw['delay-rate'] !== undefined) network.delayRate = rate('delay-rate', raw['delay-rate'])
  if (raw['delay-ms'] !== undefined) {
    network.delayMs = ms('delay-ms', raw['delay-ms'])
    network.delayRate ??= 1
  }
  if (raw['jitter-ms'] !== undefined) network.jitterMs = ms('jitter-ms', raw['jitter-ms'], 60_000)
  if (raw['duplicate-rate'] !== undefined) network.duplicateRate = rate('duplicate-rate', raw['duplicate-rate'])
  if (raw['reorder-rate'] !== undefined) network.reorderRate = rate('reorder-rate', raw['reorder-rate'])
  if (raw['corrupt-rate'] !== undefined) network.corruptRate = rate('corrupt-rate', raw['corrupt-rate'])
  if (raw['corrupt-magnitude'] !== undefined) {
    const v = raw['corrupt-magnitude']; const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1e12) throw new ConfigError(`--corrupt-magnitude must be a number between 0 and 1e12, got '${v}'`)
    if (network.corruptRate === undefined) throw new ConfigError('--corrupt-magnitude needs --corrupt-rate')
    network.corruptMagnitude = n
  }
  if (raw.straggler !== undefined && raw.straggler.length > 0) {
    const stragglers: Record<number, number> = {}
    for (const v of raw.straggler) {
      const [p, d] = parseStraggler(v, P)
      if (stragglers[p] !== undefined) throw new ConfigError(`--straggler: peer ${p} is given twice`)
      stragglers[p] = d
    }
    network.stragglers = stragglers
  }
  const partitions = (raw.partition ?? []).map(v => parsePartition(v, P, ctx.totalSteps))
  const crashes = (raw.crash ?? []).map(v => parseCrash(v, P, ctx.totalSteps))
  const { byzantinePeers, lyingVoters } = resolveAdversaries(raw, P, ctx.config.seed)
  let faultSites: FaultSite[] | undefined
  if (raw['fault-site'] !== undefined && raw['fault-site'].length > 0) {
    faultSites = []
    for (const s of raw['fault-site']) {
      if (!(FAULT_SITES as readonly string[]).includes(s)) throw new ConfigError(`--fault-site must be one of ${FAULT_SITES.join('|')}, got '${s}'`)
      if (!faultSites.includes(s as FaultSite)) faultSites.push(s as FaultSite)
    }
    if (ctx.config.errorRate === 0) throw new ConfigError('--fault-site chooses where random soft errors strike: it needs --error-rate ε > 0')
  }
  return { network, partitions, crashes, byzantinePeers, lyingVoters, ...(faultSites !== undefined ? { faultSites } : {}) }
}

/** The SimulateOptions fields of a plan (only those it sets). */
export function simulateFaultOptions (plan: FaultPlan): Pick<SimulateOptions, 'network' | 'partitions' | 'crashes' | 'byzantinePeers' | 'lyingVoters' | 'faultSites'> {
  const o: ReturnType<typeof simulateFaultOptions> = {}
  if (Object.keys(plan.network).length > 0) o.network = plan.network
  if (plan.partitions.length > 0) o.partitions = plan.partitions
  if (plan.crashes.length > 0) o.crashes = plan.crashes
  if (plan.byzantinePeers.length > 0) o.byzantinePeers = plan.byzantinePeers
  if (plan.lyingVoters.length > 0) o.lyingVoters = plan.lyingVoters
  if (plan.faultSites !== undefined) o.faultSites = plan.faultSites
  return o
}

const num = (x: number): string => String(Number(x.toPrecision(3)))

/** A short description of a plan, e.g. `drop 0.1 (datagrams) part 10-20:[3] crash 2@15+4 byz [1]`; '' when empty. */
export function describeFaultPlan (plan: FaultPlan): string {
  const n = plan.network
  const out: string[] = []
  if (n.dropRate !== undefined && n.dropRate > 0) out.push(`drop ${num(n.dropRate)}`)
  if (n.delayRate !== undefined && n.delayRate > 0) out.push(`delay ${num(n.delayRate)}×${num(n.delayMs ?? 10)}ms`)
  if (n.jitterMs !== undefined) out.push(`jitter ${num(n.jitterMs)}ms`)
  if (n.duplicateRate !== undefined && n.duplicateRate > 0) out.push(`dup ${num(n.duplicateRate)}`)
  if (n.reorderRate !== undefined && n.reorderRate > 0) out.push(`reorder ${num(n.reorderRate)}`)
  if (n.corruptRate !== undefined && n.corruptRate > 0) out.push(`corrupt ${num(n.corruptRate)}${n.corruptMagnitude !== undefined ? `σ${num(n.corruptMagnitude)}` : ''}`)
  if (n.datagrams === true) out.push('datagrams')
  const st = n.stragglers instanceof Map ? [...n.stragglers] : Object.entries(n.stragglers ?? {}).map(([k, v]) => [Number(k), v as number] as const)
  for (const [p, d] of st) out.push(`straggler ${p}:${num(d)}ms`)
  for (const p of plan.partitions) {
    const range = p.fromStep === 0 && p.toStep === Number.POSITIVE_INFINITY ? '' : `${p.fromStep}-${Number.isFinite(p.toStep) ? p.toStep : ''}:`
    out.push(`partition ${range}${p.groups.map(g => g.join(',')).join('|')}`)
  }
  for (const c of plan.crashes) out.push(`crash ${c.peer}@${c.atStep}+${c.downSteps}`)
  if (plan.byzantinePeers.length > 0) out.push(`byzantine [${plan.byzantinePeers.join(',')}]`)
  if (plan.lyingVoters.length > 0) out.push(`lying [${plan.lyingVoters.join(',')}]`)
  if (plan.faultSites !== undefined) out.push(`sites ${plan.faultSites.join(',')}`)
  return out.join(' ')
}

/**
 * What a real testnet (libp2p streams over TCP between peer processes) can do with each flag:
 * null when it is honoured (testnet/commands/testnet.ts sends the fault commands), else the one
 * line that explains the refusal.
 */
export const TESTNET_REFUSALS: Readonly<Record<FaultFlagName, string | null>> = Object.freeze({
  'drop-rate': 'libp2p streams over TCP deliver every byte or break the connection: message loss cannot be imposed on a real transport (use codenet simulate)',
  datagrams: 'the testnet talks over TCP streams, never datagrams (use codenet simulate)',
  'delay-ms': 'per-message network delays cannot be imposed on real TCP streams (use codenet simulate; for a slow peer use --straggler I:MS)',
  'delay-rate': 'per-message network delays cannot be imposed on real TCP streams (use codenet simulate; for a slow peer use --straggler I:MS)',
  'jitter-ms': 'the latency of real TCP streams is what it is (use codenet simulate)',
  'duplicate-rate': 'TCP streams never duplicate messages; duplicates cannot be imposed on a real transport (use codenet simulate)',
  'reorder-rate': 'a TCP stream delivers in order; reordering cannot be imposed on a real transport (use codenet simulate)',
  'corrupt-rate': 'TCP checksums and the Noise channel reject garbled bytes; corruption in transit cannot be imposed on a real transport (use codenet simulate, or `codenet fault garbage-frames` on a --keep testnet)',
  'corrupt-magnitude': 'corruption in transit cannot be imposed on a real transport (use codenet simulate)',
  crash: 'real peers crash by command, with a restart delay in seconds, not steps: use `codenet fault crash --peer I --restart-after-s S` on a --keep testnet (or codenet simulate)',
  straggler: null,
  partition: null,
  'lying-voters': null,
  'byzantine-peers': null,
  'fault-site': null
})

/** The first flag given that a testnet cannot honour, as a ConfigError; none: returns. */
export function refuseOnTestnet (raw: RawFaultFlags): void {
  for (const n of FAULT_FLAG_NAMES) {
    const v = raw[n]
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) continue
    const why = TESTNET_REFUSALS[n]
    if (why !== null) throw new ConfigError(`--${n} is not available on codenet testnet: ${why}`)
  }
}
