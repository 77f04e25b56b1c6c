/**
 * Fault injection into a running testnet, its history, and replay.
 *
 *   faultFromFlags   `codenet fault <kind> […]` flags → the command body peers obey (node/faults.ts)
 *   injectFault      sign it with the testnet's control key and send it to the target peers over
 *                    the control protocol; append the injection to `history.jsonl`
 *   readHistory      parse a history file (every line validated)
 *   ReplaySchedule   which recorded injections are due: at the recorded network step when known,
 *                    else at the recorded time since the start (`codenet testnet --replay FILE`)
 *
 * A history line: `{ at, sinceStartMs, step, target, kind, params, seed, delivered, errors }`;
 * `kind` is a fault kind or `clear`, `target` a peer index or `all`.
 */
import { appendFileSync, readFileSync } from 'node:fs'
import { randomInt } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { FAULT_KINDS, parseFaultCommand, type FaultCommand, type FaultKind } from '../node/faults.ts'
import { signControlRequest } from '../node/control-auth.ts'
import { FAULT_SITES } from '../training/faults.ts'
import type { ControlClient } from './control-client.ts'
import type { TestnetState } from './state.ts'

export class FaultUsageError extends Error {
  override name = 'FaultUsageError'
}

export const FAULT_KINDS_AND_CLEAR = [...FAULT_KINDS, 'clear'] as const
export type FaultKindOrClear = FaultKind | 'clear'

export interface HistoryEntry {
  /** Wall clock, ms since the epoch. */
  at: number
  /** ms since the testnet started. */
  sinceStartMs: number
  /** The network's step when it was sent (median over peers), null when unknown. */
  step: number | null
  target: number | 'all'
  kind: FaultKindOrClear
  /** The command's parameters (without kind and seed). */
  params: Omit<FaultCommand, 'kind' | 'seed'>
  seed: number
  /** Peer indices that accepted it, and errors by peer index. */
  delivered: number[]
  errors: Record<string, string>
  /** Set when this line was replayed from another history. */
  replayOf?: number
}

export type FaultFlags = Partial<Record<'rate' | 'kind' | 'magnitude' | 'step' | 'delay-ms' | 'restart-after-s' | 'from' | 'to' | 'seed', string>>

function real (flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new FaultUsageError(`--${flag} must be a number between ${min} and ${max}, got '${v}'`)
  return n
}
function whole (flag: string, v: string | undefined, min: number, max: number): number | undefined {
  const n = real(flag, v, min, max)
  if (n !== undefined && !Number.isInteger(n)) throw new FaultUsageError(`--${flag} must be a whole number, got '${v as string}'`)
  return n
}

const allowed: Record<FaultKindOrClear, ReadonlyArray<keyof FaultFlags>> = {
  'soft-error': ['rate', 'kind', 'magnitude', 'step', 'seed'],
  straggler: ['delay-ms', 'seed'],
  crash: ['restart-after-s', 'seed'],
  pause: ['seed'],
  partition: ['from', 'to', 'seed'],
  byzantine: ['magnitude', 'seed'],
  'garbage-frames': ['seed'],
  clear: []
}

/** The command body for `kind` from its flags; `null` for `clear`. Throws FaultUsageError. */
export function faultFromFlags (kind: string, flags: FaultFlags, peers: number): FaultCommand | null {
  if (!(FAULT_KINDS_AND_CLEAR as readonly string[]).includes(kind)) throw new FaultUsageError(`unknown fault kind '${kind}' (one of ${FAULT_KINDS_AND_CLEAR.join('|')})`)
  const k = kind as FaultKindOrClear
  for (const [f, v] of Object.entries(flags)) {
    if (v !== undefined && !allowed[k].includes(f as keyof FaultFlags)) throw new FaultUsageError(`--${f} does not apply to '${kind}'`)
  }
  if (k === 'clear') return null
  const seed = whole('seed', flags.seed, 0, 2 ** 31 - 1) ?? randomInt(2 ** 31 - 1)
  const cmd: FaultCommand = { kind: k, seed }
  switch (k) {
    case 'soft-error': {
      cmd.rate = real('rate', flags.rate, 0, 1) ?? 0.05
      const ek = flags.kind ?? 'gaussian'
      if (ek !== 'gaussian' && ek !== 'bitflip') throw new FaultUsageError(`--kind must be gaussian|bitflip, got '${ek}'`)
      cmd.errorKind = ek
      cmd.magnitude = real('magnitude', flags.magnitude, 0, 1e12) ?? 1
      const site = flags.step ?? 'matmul'
      if (site !== 'any' && !(FAULT_SITES as readonly string[]).includes(site)) throw new FaultUsageError(`--step must be one of ${[...FAULT_SITES, 'any'].join('|')}, got '${site}'`)
      cmd.site = site as FaultCommand['site']
      break
    }
    case 'straggler': cmd.delayMs = real('delay-ms', flags['delay-ms'], 0, 600_000) ?? 1000; break
    case 'crash': { const r = real('restart-after-s', flags['restart-after-s'], 0, 86_400); if (r !== undefined) cmd.restartAfterS = r; break }
    case 'byzantine': cmd.magnitude = real('magnitude', flags.magnitude, 0, 1e12) ?? 1; break
    case 'partition': {
      const from = whole('from', flags.from, 0, peers - 1)
      const to = whole('to', flags.to, 0, peers - 1)
      if ((from === undefined) !== (to === undefined)) throw new FaultUsageError('partition needs both --from I and --to J, or neither (split the peers in halves)')
      if (from !== undefined && from === to) throw new FaultUsageError('--from and --to must name two different peers')
      if (from !== undefined) { cmd.from = from; cmd.to = to }
      break
    }
    default: break
  }
  return parseFaultCommand(cmd)
}

export function parseTarget (v: string | undefined, peers: number): number | 'all' {
  if (v === undefined || v === 'all') return 'all'
  const n = Number(v)
  if (!/^\d+$/.test(v) || n >= peers) throw new FaultUsageError(`--peer must be a peer index 0…${peers - 1} or 'all', got '${v}'`)
  return n
}

/** Peer index → a control address, from the launcher's state. */
export function controlAddresses (state: TestnetState): Map<number, string> {
  const out = new Map<number, string>()
  for (const p of state.peers) {
    if (p.index === null || p.addresses.length === 0) continue
    out.set(p.index, p.addresses.find(a => a.includes('/127.0.0.1/')) ?? p.addresses[0])
  }
  return out
}

export interface InjectResult {
  entry: HistoryEntry
  /** Per target peer index: the peer's answer or the error. */
  replies: Array<{ peer: number, ok: boolean, message: string }>
}

/**
 * Send a fault (or `clear`, cmd = null) to `target`, record it in the history file. Crash
 * commands to `all` go to every peer (the launcher restarts them when `restartAfterS` is set).
 */
export async function injectFault (opts: {
  client: ControlClient
  key: KeyObject
  state: TestnetState
  historyFile: string
  target: number | 'all'
  kind: FaultKindOrClear
  cmd: FaultCommand | null
  step: number | null
  replayOf?: number
}): Promise<InjectResult> {
  const { client, key, state, target, cmd } = opts
  const addrs = controlAddresses(state)
  if (addrs.size === 0) throw new FaultUsageError('no peer of the testnet has an index yet (wait until they joined: `codenet status`)')
  const targets = target === 'all' ? [...addrs.keys()].sort((a, b) => a - b) : [target]
  if (target !== 'all' && !addrs.has(target)) throw new FaultUsageError(`peer ${target} is not known to the testnet (indices ${[...addrs.keys()].join(', ')})`)
  const replies = await Promise.all(targets.map(async (i) => {
    const req = cmd === null ? signControlRequest(key, 'fault-clear', {}) : signControlRequest(key, 'fault', cmd)
    try {
      const body = await client.send(addrs.get(i) as string, req)
      return { peer: i, ok: true, message: JSON.stringify(body) }
    } catch (err) {
      return { peer: i, ok: false, message: (err as Error).message }
    }
  }))
  const { kind: _k, seed: _s, ...params } = cmd ?? { kind: 'clear', seed: 0 }
  const entry: HistoryEntry = {
    at: Date.now(),
    sinceStartMs: Date.now() - state.startedAt,
    step: opts.step,
    target,
    kind: opts.kind,
    params,
    seed: cmd?.seed ?? 0,
    delivered: replies.filter(r => r.ok).map(r => r.peer),
    errors: Object.fromEntries(replies.filter(r => !r.ok).map(r => [String(r.peer), r.message])),
    ...(opts.replayOf !== undefined ? { replayOf: opts.replayOf } : {})
  }
  appendFileSync(opts.historyFile, `${JSON.stringify(entry)}\n`)
  return { entry, replies }
}

const MAX_HISTORY_BYTES = 16 * 1024 * 1024

/** Parse a history file; a bad line is an error naming the line. */
export function readHistory (path: string): HistoryEntry[] {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new FaultUsageError(`cannot read history ${path}: ${(err as Error).message}`)
  }
  if (text.length > MAX_HISTORY_BYTES) throw new FaultUsageError(`history ${path} is larger than ${MAX_HISTORY_BYTES} bytes`)
  return parseHistory(text, path)
}

export function parseHistory (text: string, name = 'history'): HistoryEntry[] {
  const out: HistoryEntry[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    let e: any
    try { e = JSON.parse(line) } catch { throw new FaultUsageError(`${name} line ${i + 1} is not JSON`) }
    const ok = e !== null && typeof e === 'object' && Number.isFinite(e.at) && Number.isFinite(e.sinceStartMs) &&
      (e.step === null || Number.isInteger(e.step)) && (e.target === 'all' || Number.isInteger(e.target)) &&
      (FAULT_KINDS_AND_CLEAR as readonly unknown[]).includes(e.kind) && Number.isInteger(e.seed) && typeof e.params === 'object' && e.params !== null
    if (!ok) throw new FaultUsageError(`${name} line ${i + 1} is not a fault history entry`)
    if (e.kind !== 'clear') {
      try { parseFaultCommand({ ...e.params, kind: e.kind, seed: e.seed }) } catch (err) { throw new FaultUsageError(`${name} line ${i + 1}: ${(err as Error).message}`) }
    }
    out.push({ delivered: [], errors: {}, ...e })
  })
  return out
}

/** The command of a history entry (null for clear). */
export function commandOf (e: HistoryEntry): FaultCommand | null {
  return e.kind === 'clear' ? null : parseFaultCommand({ ...e.params, kind: e.kind, seed: e.seed })
}

/** Recorded injections, handed out once each when due. */
export class ReplaySchedule {
  private readonly pending: Array<{ n: number, e: HistoryEntry }>
  constructor (entries: readonly HistoryEntry[]) {
    this.pending = entries.filter(e => e.replayOf === undefined || true).map((e, n) => ({ n, e }))
  }

  get remaining (): number { return this.pending.length }

  /** Entries due at `elapsedMs` since the start with the network at `step` (null: not training yet). In order. */
  due (elapsedMs: number, step: number | null): Array<{ n: number, e: HistoryEntry }> {
    const out: Array<{ n: number, e: HistoryEntry }> = []
    while (this.pending.length > 0) {
      const { e } = this.pending[0]
      const ready = e.step !== null ? step !== null && step >= e.step : elapsedMs >= e.sinceStartMs
      if (!ready) break
      out.push(this.pending.shift() as { n: number, e: HistoryEntry })
    }
    return out
  }
}

/** Restart delay for a crashed peer: the newest crash entry aimed at it (or all) after `since`. */
export function restartDelayFor (history: readonly HistoryEntry[], index: number | null, since: number): number | null {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]
    if (e.at < since) break
    if (e.kind !== 'crash' || (e.target !== 'all' && e.target !== index)) continue
    return e.params.restartAfterS ?? null
  }
  return null
}
