/**
 * `codenet fault`'s parameters, in one table (FAULT_PARAMS): for each flag, where its value goes
 * (a field of the signed command body every target peer obeys, a launcher parameter that is
 * recorded but never sent to a peer, or the target), its range or choices, its default, and
 * the fault kinds that take it. Flag parsing and validation (faultFromFlags), the parseArgs
 * options (FAULT_FLAG_OPTIONS) and `codenet fault --help` (faultUsage) are generated from it:
 * a flag a kind does not take is refused with one line naming the flags the kind does take.
 *
 * The body is then checked once more against the wire schema the peers apply
 * (protocols/fault-command.ts); the table's defaults for the body's fields are the peer's own
 * meaning of an absent field (COMMAND_DEFAULTS, node/fault-controller.ts).
 */
import { randomInt } from 'node:crypto'
import { FAULT_KINDS, parseFaultCommand, type FaultCommand, type FaultKind } from '../protocols/fault-command.ts'
import { COMMAND_DEFAULTS } from '../node/fault-controller.ts'
import { ERROR_KINDS, FAULT_SITES } from '../training/soft-errors.ts'

export class FaultUsageError extends Error {
  override name = 'FaultUsageError'
}

export const FAULT_KINDS_AND_CLEAR = [...FAULT_KINDS, 'clear'] as const
export type FaultKindOrClear = FaultKind | 'clear'

/** Parameters for the launcher, not the peer: recorded in the history, never sent. */
export interface LauncherParams {
  /** crash: the launcher starts the peer again (same data dir and id) after this many seconds. */
  restartAfterS?: number
}

/** The parameters of a history entry: the command body's (without kind and seed) and the launcher's. */
export type FaultParams = Omit<FaultCommand, 'kind' | 'seed'> & LauncherParams

type PeerField = Exclude<keyof FaultCommand, 'kind'>

export type ParamValue =
  | { type: 'number', min: number, max: number }
  /** `max: 'peer'`: a peer index, below the testnet's number of peers (255 on the wire). */
  | { type: 'whole', min: number, max: number | 'peer' }
  | { type: 'choice', choices: readonly string[] }
  /** A peer index or `all`. */
  | { type: 'target' }

export type FaultParam = {
  /** `--flag` of `codenet fault`. */
  flag: string
  /** Older names of the flag: still accepted, with a one-line deprecation notice. */
  deprecated?: readonly string[]
  /** Metavariable in --help. */
  arg: string
  kinds: readonly FaultKindOrClear[]
  value: ParamValue
  /** The value when the flag is absent; absent: the parameter is not set. `'random'` for the seed. */
  default?: number | string
  /** What an absent parameter without a default means (--help). */
  absent?: string
  help: string
} & ({ to: 'peer', field: PeerField } | { to: 'launcher', field: keyof LauncherParams } | { to: 'target', field: 'target' })

const ALL_KINDS: readonly FaultKindOrClear[] = FAULT_KINDS_AND_CLEAR
const PEER_INDEX_MAX_ON_WIRE = 255

/** The one table of `codenet fault` parameters, in --help order. */
export const FAULT_PARAMS: readonly FaultParam[] = [
  { flag: 'peer', to: 'target', field: 'target', arg: 'I|all', kinds: ALL_KINDS, value: { type: 'target' }, default: 'all', help: 'the target (indices as in `codenet status`)' },
  { flag: 'rate', to: 'peer', field: 'rate', arg: 'ε', kinds: ['soft-error'], value: { type: 'number', min: 0, max: 1 }, default: COMMAND_DEFAULTS.rate, help: 'probability that one operation at the site goes wrong' },
  { flag: 'kind', to: 'peer', field: 'errorKind', arg: 'K', kinds: ['soft-error'], value: { type: 'choice', choices: ERROR_KINDS }, default: COMMAND_DEFAULTS.errorKind, help: 'gaussian noise on every entry, or one flipped bit' },
  { flag: 'magnitude', to: 'peer', field: 'magnitude', arg: 'σ', kinds: ['soft-error', 'byzantine'], value: { type: 'number', min: 0, max: 1e12 }, default: COMMAND_DEFAULTS.magnitude, help: 'σ of gaussian errors; size of the byzantine offsets' },
  { flag: 'site', deprecated: ['step'], to: 'peer', field: 'site', arg: 'S', kinds: ['soft-error'], value: { type: 'choice', choices: [...FAULT_SITES, 'any'] }, default: COMMAND_DEFAULTS.site, help: 'the operation that goes wrong (any: every one); --step is its old, deprecated name' },
  { flag: 'delay-ms', to: 'peer', field: 'delayMs', arg: 'T', kinds: ['straggler'], value: { type: 'number', min: 0, max: 600_000 }, default: COMMAND_DEFAULTS.delayMs, help: 'ms the peer waits before publishing each result' },
  { flag: 'restart-after-s', to: 'launcher', field: 'restartAfterS', arg: 'S', kinds: ['crash'], value: { type: 'number', min: 0, max: 86_400 }, absent: 'stays down', help: 'the launcher restarts the peer (same data dir, port and id) S s after it died' },
  { flag: 'from', to: 'peer', field: 'from', arg: 'I', kinds: ['partition'], value: { type: 'whole', min: 0, max: 'peer' }, absent: 'halves', help: 'one end of the cut link (with --to)' },
  { flag: 'to', to: 'peer', field: 'to', arg: 'J', kinds: ['partition'], value: { type: 'whole', min: 0, max: 'peer' }, absent: 'halves', help: 'the other end of the cut link (with --from)' },
  { flag: 'seed', to: 'peer', field: 'seed', arg: 'N', kinds: FAULT_KINDS, value: { type: 'whole', min: 0, max: 2 ** 31 - 1 }, default: 'random', help: "seed of the fault's random draws (recorded, so --replay repeats them)" }
]

/** What each kind does (--help). */
const KIND_HELP: Record<FaultKindOrClear, string> = {
  'soft-error': "the peer's operations at --site go wrong with probability --rate (gaussian noise of σ --magnitude, or one bit flip)",
  straggler: 'the peer waits --delay-ms before publishing each result',
  crash: 'kill the peer process; with --restart-after-s S the launcher restarts it after S s, without it stays down',
  pause: 'the peer stops publishing until `fault clear`',
  partition: '--from I --to J cuts the link between I and J; without them, the peers split in halves',
  byzantine: "the peer's results are consistently wrong (the same offset of size --magnitude every round)",
  'garbage-frames': 'the peer sends malformed frames on the results protocol before each result',
  clear: 'switch every fault off'
}

/** Raw flag values as parseArgs gives them (deprecated aliases included). */
export type FaultFlags = Partial<Record<string, string>>

/** parseArgs options of `codenet fault`: every flag of the table and its aliases, and --json. */
export const FAULT_FLAG_OPTIONS: Record<string, { type: 'string' } | { type: 'boolean' }> = {
  ...Object.fromEntries(FAULT_PARAMS.flatMap(p => [p.flag, ...(p.deprecated ?? [])]).map(f => [f, { type: 'string' as const }])),
  json: { type: 'boolean' }
}

export interface FaultRequest {
  kind: FaultKindOrClear
  target: number | 'all'
  /** The body every target peer obeys; null for `clear`. */
  cmd: FaultCommand | null
  /** Recorded in the history; the launcher's, never sent. */
  launcher: LauncherParams
  /** One line each, for stderr (deprecated flags). */
  warnings: string[]
}

const takes = (kind: FaultKindOrClear): FaultParam[] => FAULT_PARAMS.filter(p => p.kinds.includes(kind))

/** 1e12 rather than twelve zeros. */
const num = (n: number): string => n >= 1e6 && Number.isInteger(Math.log10(n)) ? `1e${Math.log10(n)}` : String(n)

const rangeText = (v: ParamValue, peers: number | null): string => {
  switch (v.type) {
    case 'number': return `${num(v.min)}…${num(v.max)}`
    case 'whole': return v.max === 'peer' ? (peers === null ? 'a peer index' : `a peer index 0…${peers - 1}`) : `${num(v.min)}…${num(v.max)}`
    case 'choice': return v.choices.join('|')
    case 'target': return peers === null ? "a peer index or 'all'" : `a peer index 0…${peers - 1} or 'all'`
  }
}

/**
 * A flag's value, checked against its row. `given` is the flag as typed (an alias names itself
 * in the message). `peers` bounds peer indices; null: only the wire's bound.
 */
function parseValue (p: FaultParam, given: string, raw: string, peers: number | null): number | string {
  const v = p.value
  const bad = (): never => {
    const what = v.type === 'choice' ? `one of ${rangeText(v, peers)}` : v.type === 'number' ? `a number between ${v.min} and ${v.max}` : v.type === 'whole' && v.max !== 'peer' ? `a whole number between ${v.min} and ${v.max}` : rangeText(v, peers)
    throw new FaultUsageError(`--${given} must be ${what}, got '${raw}'`)
  }
  switch (v.type) {
    case 'choice': return v.choices.includes(raw) ? raw : bad()
    case 'target': {
      if (raw === 'all') return raw
      if (!/^\d+$/.test(raw)) bad()
      const n = Number(raw)
      return (peers !== null ? n < peers : n <= PEER_INDEX_MAX_ON_WIRE) ? n : bad()
    }
    case 'number':
    case 'whole': {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n) || (v.type === 'whole' && !Number.isInteger(n))) bad()
      const max = v.max === 'peer' ? (peers ?? PEER_INDEX_MAX_ON_WIRE + 1) - 1 : v.max
      return n >= v.min && n <= max ? n : bad()
    }
  }
}

/** Does a JSON value (a history line's parameter) fit the row? */
export function fitsParam (p: FaultParam, x: unknown): boolean {
  const v = p.value
  switch (v.type) {
    case 'choice': return typeof x === 'string' && v.choices.includes(x)
    case 'target': return x === 'all' || (Number.isInteger(x) && (x as number) >= 0 && (x as number) <= PEER_INDEX_MAX_ON_WIRE)
    case 'number':
    case 'whole': {
      const max = v.max === 'peer' ? PEER_INDEX_MAX_ON_WIRE : v.max
      return typeof x === 'number' && Number.isFinite(x) && (v.type === 'number' || Number.isInteger(x)) && x >= v.min && x <= max
    }
  }
}

/** The launcher's parameters of a history entry's params, checked; throws FaultUsageError naming the field. */
export function launcherParamsOf (kind: FaultKindOrClear, params: object): LauncherParams {
  const given = params as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const p of FAULT_PARAMS) {
    if (p.to !== 'launcher' || given[p.field] === undefined) continue
    if (!p.kinds.includes(kind) || !fitsParam(p, given[p.field])) throw new FaultUsageError(`fault ${kind}: bad '${p.field}'`)
    out[p.field] = given[p.field]
  }
  return out as LauncherParams
}

/** The command body's part of a history entry's params (the launcher's fields left out). */
export function peerParamsOf (params: object): Omit<FaultCommand, 'kind' | 'seed'> {
  const launcher = new Set<string>(FAULT_PARAMS.filter(p => p.to === 'launcher').map(p => p.field))
  return Object.fromEntries(Object.entries(params).filter(([k]) => !launcher.has(k))) as Omit<FaultCommand, 'kind' | 'seed'>
}

/**
 * `codenet fault <kind> [flags]` → the request: target, command body (null for clear), launcher
 * parameters, deprecation notices. Throws FaultUsageError (one line) for an unknown kind, a flag
 * the kind does not take, or a value out of its range; FaultCommandError if the body would not
 * pass the peers' check. `peers`: the testnet's size, bounding peer indices (null: checked later
 * with checkPeerIndices).
 */
export function faultFromFlags (kind: string, flags: FaultFlags, peers: number | null): FaultRequest {
  if (!(FAULT_KINDS_AND_CLEAR as readonly string[]).includes(kind)) throw new FaultUsageError(`unknown fault kind '${kind}' (one of ${FAULT_KINDS_AND_CLEAR.join('|')})`)
  const k = kind as FaultKindOrClear
  const warnings: string[] = []
  // Each given flag → its row (under its own name or a deprecated alias).
  const given = new Map<FaultParam, { as: string, raw: string }>()
  for (const [f, raw] of Object.entries(flags)) {
    if (raw === undefined) continue
    const p = FAULT_PARAMS.find(p => p.flag === f || p.deprecated?.includes(f))
    if (p === undefined) throw new FaultUsageError(`unknown option --${f}`)
    if (!p.kinds.includes(k)) {
      const own = takes(k).map(q => `--${q.flag}`)
      throw new FaultUsageError(`--${f} does not apply to '${k}' (${k} takes ${own.join(', ')})`)
    }
    const prev = given.get(p)
    if (prev !== undefined) throw new FaultUsageError(`give --${p.flag} once (--${prev.as} and --${f} are the same option)`)
    if (f !== p.flag) warnings.push(`--${f} is deprecated; use --${p.flag} (same meaning)`)
    given.set(p, { as: f, raw })
  }
  let target: number | 'all' = 'all'
  const body: Record<string, unknown> = { kind: k }
  const launcher: Record<string, unknown> = {}
  for (const p of takes(k)) {
    const g = given.get(p)
    let value: number | string | undefined = g !== undefined ? parseValue(p, g.as, g.raw, peers) : p.default
    if (p.field === 'seed' && value === 'random') value = randomInt(2 ** 31 - 1)
    if (value === undefined) continue
    if (p.to === 'target') target = value as number | 'all'
    else if (p.to === 'launcher') launcher[p.field] = value
    else body[p.field] = value
  }
  if (k === 'partition') {
    if ((body.from === undefined) !== (body.to === undefined)) throw new FaultUsageError('partition needs both --from I and --to J, or neither (split the peers in halves)')
    if (body.from !== undefined && body.from === body.to) throw new FaultUsageError('--from and --to must name two different peers')
  }
  return { kind: k, target, cmd: k === 'clear' ? null : parseFaultCommand(body), launcher: launcher as LauncherParams, warnings }
}

/** Every peer index of a request (target, partition ends) below `peers`; throws FaultUsageError. */
export function checkPeerIndices (r: Pick<FaultRequest, 'target' | 'cmd'>, peers: number): void {
  const check = (flag: string, v: number | 'all' | undefined): void => {
    if (v === undefined || v === 'all' || v < peers) return
    throw new FaultUsageError(`--${flag} must be ${flag === 'peer' ? `a peer index 0…${peers - 1} or 'all'` : `a peer index 0…${peers - 1}`}, got '${v}'`)
  }
  check('peer', r.target)
  check('from', r.cmd?.from)
  check('to', r.cmd?.to)
}

/** `--peer I|all` alone (index below `peers`). */
export function parseTarget (v: string | undefined, peers: number): number | 'all' {
  const p = FAULT_PARAMS.find(p => p.to === 'target') as FaultParam
  return v === undefined ? 'all' : parseValue(p, p.flag, v, peers) as number | 'all'
}

/** `codenet fault --help`, from the table. */
export function faultUsage (): string {
  const kindsText = (ks: readonly FaultKindOrClear[]): string =>
    ks.length === ALL_KINDS.length ? 'every kind' : ks.length === FAULT_KINDS.length && !ks.includes('clear') ? 'all but clear' : ks.join(', ')
  const defaultText = (p: FaultParam): string => p.default !== undefined ? String(p.default) : p.absent ?? '-'
  const kindW = Math.max(...FAULT_KINDS_AND_CLEAR.map(k => k.length)) + 2
  // The range goes last: a choice (the sites) can be long.
  const rows = FAULT_PARAMS.map(p => [`--${p.flag} ${p.arg}`, kindsText(p.kinds), defaultText(p), `${rangeText(p.value, null)}: ${p.help}`])
  const head = ['parameter', 'kinds', 'default', 'range: meaning']
  const w = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)) + 2)
  const line = (r: string[]): string => `  ${r.map((c, i) => i < r.length - 1 ? c.padEnd(w[i]) : c).join('')}`.trimEnd()
  return [
    `codenet fault <${FAULT_KINDS_AND_CLEAR.join('|')}> [--peer I|all] [parameters of the kind] [--json]`,
    '',
    ...FAULT_KINDS_AND_CLEAR.map(k => {
      const own = takes(k).filter(p => p.to !== 'target' && p.field !== 'seed').map(p => `--${p.flag}`)
      return `  ${k.padEnd(kindW)}${KIND_HELP[k]}${own.length > 0 ? ` [${own.join(' ')}]` : ''}`
    }),
    '',
    line(head),
    ...rows.map(line),
    `  ${'--json'.padEnd(w[0])}print the history entry and the peers' replies as JSON`,
    '',
    'A parameter the kind does not take is refused. Every injection is appended to the testnet\'s',
    'history.jsonl with its target, parameters and seed (`codenet testnet --replay FILE`).'
  ].join('\n')
}
