/**
 * Fault injection into a running testnet, its record, and replay.
 *
 *   injectFault      sign a command (testnet/fault-params.ts built it) with the testnet's control
 *                    key for each target peer (its peer id, the testnet's job, its current boot:
 *                    testnet/control-client.ts reads its status first), send it over the control
 *                    protocol, append the injection to `history.jsonl`
 *   crash intents    a crash's restart intent (`--restart-after-s`, or none: the peer stays
 *                    down) is the launcher's business, not the peer's: injectFault appends it to
 *                    `crash-intents.jsonl` in the state folder BEFORE the crash command is sent,
 *                    and the launcher reads it when the peer exits with CRASH_EXIT_CODE
 *                    (restartDelayFor). The peer never sees it; nothing waits for a later write.
 *   readHistory      parse a history file (every line validated)
 *   ReplaySchedule   which recorded injections are due: at the recorded network step when known,
 *                    else at the recorded time since the start (`codenet testnet --replay FILE`)
 *
 * A history line: `{ at, sinceStartMs, step, target, kind, params, seed, delivered, errors }`;
 * `kind` is a fault kind or `clear`, `target` a peer index or `all`; `params` holds the
 * command body's parameters and the launcher's (a crash's `restartAfterS`), so a replayed
 * crash restarts like the original.
 */
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import { parseFaultCommand, type FaultCommand } from '../protocols/fault-command.ts'
import { FAULT_KINDS_AND_CLEAR, FaultUsageError, launcherParamsOf, peerParamsOf, type FaultKindOrClear, type FaultParams, type LauncherParams } from './fault-params.ts'
import type { ControlClient } from './control-client.ts'
import type { TestnetState } from './state.ts'

export interface HistoryEntry {
  /** Wall clock, ms since the epoch. */
  at: number
  /** ms since the testnet started. */
  sinceStartMs: number
  /** The network's step when it was sent (median over peers), null when unknown. */
  step: number | null
  target: number | 'all'
  kind: FaultKindOrClear
  /** The command's parameters (without kind and seed) and the launcher's. */
  params: FaultParams
  seed: number
  /** Peer indices that accepted it, and errors by peer index. */
  delivered: number[]
  errors: Record<string, string>
  /** Set when this line was replayed from another history. */
  replayOf?: number
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

/** A crash's restart intent, as the launcher reads it when the peer dies. */
export interface CrashIntent {
  /** ms since the epoch, written before the command was sent. */
  at: number
  target: number | 'all'
  /** null: the peer stays down. */
  restartAfterS: number | null
  seed: number
}

/** The crash intents file of a testnet state folder. */
export const crashIntentFile = (stateDir: string): string => join(stateDir, 'crash-intents.jsonl')

export function recordCrashIntent (file: string, intent: CrashIntent): void {
  appendFileSync(file, `${JSON.stringify(intent)}\n`)
}

/** The crash intents of a file (none when it does not exist); lines that are not intents are skipped. */
export function readCrashIntents (file: string): CrashIntent[] {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new FaultUsageError(`cannot read ${file}: ${(err as Error).message}`)
  }
  const out: CrashIntent[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let e: any
    try { e = JSON.parse(line) } catch { continue }
    if (e === null || typeof e !== 'object' || !Number.isFinite(e.at) || !(e.target === 'all' || Number.isInteger(e.target)) || !Number.isInteger(e.seed)) continue
    if (e.restartAfterS !== null && !(typeof e.restartAfterS === 'number' && Number.isFinite(e.restartAfterS) && e.restartAfterS >= 0)) continue
    out.push({ at: e.at, target: e.target, restartAfterS: e.restartAfterS, seed: e.seed })
  }
  return out
}

/**
 * Restart delay for a peer that crashed on command: the newest intent aimed at it (or at all)
 * since `since`; null when there is none or it says the peer stays down.
 */
export function restartDelayFor (intents: readonly CrashIntent[], index: number | null, since: number): number | null {
  for (let i = intents.length - 1; i >= 0; i--) {
    const e = intents[i]
    if (e.at < since) break
    if (e.target !== 'all' && e.target !== index) continue
    return e.restartAfterS
  }
  return null
}

export interface InjectResult {
  entry: HistoryEntry
  /** Per target peer index: the peer's answer or the error. */
  replies: Array<{ peer: number, ok: boolean, message: string }>
}

/**
 * Send a fault (or `clear`, cmd = null) to `target`, record it in the history file. A crash's
 * restart intent (from `launcher`) goes to `intentFile` first, so the launcher knows it before
 * any peer dies; crash commands to `all` go to every peer.
 */
export async function injectFault (opts: {
  client: ControlClient
  key: KeyObject
  state: TestnetState
  historyFile: string
  /** crashIntentFile(state folder) */
  intentFile: string
  target: number | 'all'
  kind: FaultKindOrClear
  cmd: FaultCommand | null
  /** The launcher's parameters (a crash's restart delay): recorded, never sent. */
  launcher?: LauncherParams
  step: number | null
  replayOf?: number
}): Promise<InjectResult> {
  const { client, key, state, target, cmd } = opts
  const launcher = opts.launcher ?? {}
  const addrs = controlAddresses(state)
  if (addrs.size === 0) throw new FaultUsageError('no peer of the testnet has an index yet (wait until they joined: `codenet status`)')
  const targets = target === 'all' ? [...addrs.keys()].sort((a, b) => a - b) : [target]
  if (target !== 'all' && !addrs.has(target)) throw new FaultUsageError(`peer ${target} is not known to the testnet (indices ${[...addrs.keys()].join(', ')})`)
  if (cmd?.kind === 'crash') recordCrashIntent(opts.intentFile, { at: Date.now(), target, restartAfterS: launcher.restartAfterS ?? null, seed: cmd.seed })
  const peerIds = new Map(state.peers.map(p => [p.index, p.peerId]))
  const replies = await Promise.all(targets.map(async (i) => {
    try {
      // Signed for this one peer, the testnet's job and the peer's current boot.
      const expect = { peer: peerIds.get(i) ?? null, job: state.job }
      const body = cmd === null
        ? await client.command(addrs.get(i) as string, key, 'fault-clear', {}, expect)
        : await client.command(addrs.get(i) as string, key, 'fault', cmd, expect)
      return { peer: i, ok: true, message: JSON.stringify(body) }
    } catch (err) {
      return { peer: i, ok: false, message: (err as Error).message }
    }
  }))
  const { kind: _k, seed: _s, ...params } = cmd ?? { kind: 'clear', seed: 0 }
  const entry: HistoryEntry = {
    at: Date.now(),
    sinceStartMs: Date.now() - state.startedAt,
    step: opts.step === null ? null : Math.floor(opts.step),
    target,
    kind: opts.kind,
    params: { ...params, ...launcher },
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
    try {
      launcherParamsOf(e.kind, e.params)
      if (e.kind !== 'clear') parseFaultCommand({ ...peerParamsOf(e.params), kind: e.kind, seed: e.seed })
    } catch (err) { throw new FaultUsageError(`${name} line ${i + 1}: ${(err as Error).message}`) }
    out.push({ delivered: [], errors: {}, ...e })
  })
  return out
}

/** The command a history entry sends to the peers (null for clear), without the launcher's parameters. */
export function commandOf (e: HistoryEntry): FaultCommand | null {
  return e.kind === 'clear' ? null : parseFaultCommand({ ...peerParamsOf(e.params), kind: e.kind, seed: e.seed })
}

/** The launcher's parameters of a history entry (a crash's restart delay). */
export function launcherOf (e: HistoryEntry): LauncherParams {
  return launcherParamsOf(e.kind, e.params)
}

/** Recorded injections, handed out once each when due. Entries that were themselves replays are replayed too: they are what that run injected. */
export class ReplaySchedule {
  private readonly pending: Array<{ n: number, e: HistoryEntry }>
  constructor (entries: readonly HistoryEntry[]) {
    this.pending = entries.map((e, n) => ({ n, e }))
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
