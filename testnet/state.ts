/**
 * The testnet state folder (`.codenet/testnet/` in the current directory by default, or
 * `$CODENET_TESTNET_DIR`): how `codenet status`, `codenet fault` and `codenet testnet down`
 * find a running testnet.
 *
 *   state.json        written by the launcher: its pid, the peers (pid, port, peer id, index,
 *                     addresses, data dir, log), dashboard URL, phase, the monitor's view
 *   control.key.pem   the testnet's Ed25519 control key (0600); control.pub.pem goes to the peers
 *   history.jsonl     every fault injected (testnet/fault-history.ts)
 *   crash-intents.jsonl  each crash's restart intent, written before the crash is sent
 *   job.json          the job every peer runs
 *   peer-K/           data dir of launch slot K (identity, checkpoints); peer-K.log its output
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { PeerRow, MonitorView } from './snapshot.ts'

export class TestnetStateError extends Error {
  override name = 'TestnetStateError'
}

export const STATE_VERSION = 1
const MAX_STATE_BYTES = 16 * 1024 * 1024

export interface PeerSlot {
  slot: number
  pid: number | null
  port: number | null
  peerId: string | null
  /** Shard index (rank of the peer id in the job), known once the barrier closed. */
  index: number | null
  addresses: string[]
  dataDir: string
  log: string
  summaryFile: string
  restarts: number
  /** 'running' | 'exited' (with exitCode) | 'crashed' (waiting for restart) | 'stopped' */
  process: 'starting' | 'running' | 'crashed' | 'exited' | 'stopped'
  exitCode: number | null
}

export interface TestnetState {
  version: number
  /** The launcher (supervisor) process. */
  pid: number
  startedAt: number
  phase: 'starting' | 'joining' | 'training' | 'done' | 'failed' | 'stopping' | 'stopped'
  keep: boolean
  peers: PeerSlot[]
  dashboardUrl: string | null
  jobFile: string
  job: string
  totalSteps: number | null
  monitor: MonitorView | null
  rows: PeerRow[]
  error: string | null
}

export interface TestnetPaths {
  dir: string
  state: string
  key: string
  pub: string
  history: string
  job: string
  launcherLog: string
  summary: string
  slotDir: (k: number) => string
  slotLog: (k: number) => string
  slotSummary: (k: number) => string
  slotWeights: (k: number) => string
}

export function testnetPaths (dir?: string): TestnetPaths {
  const d = resolve(dir ?? process.env.CODENET_TESTNET_DIR ?? join('.codenet', 'testnet'))
  return {
    dir: d,
    state: join(d, 'state.json'),
    key: join(d, 'control.key.pem'),
    pub: join(d, 'control.pub.pem'),
    history: join(d, 'history.jsonl'),
    job: join(d, 'job.json'),
    launcherLog: join(d, 'launcher.log'),
    summary: join(d, 'summary.json'),
    slotDir: k => join(d, `peer-${k}`),
    slotLog: k => join(d, `peer-${k}.log`),
    slotSummary: k => join(d, `peer-${k}.summary.json`),
    slotWeights: k => join(d, `peer-${k}.weights.json`)
  }
}

export function writeState (paths: TestnetPaths, state: TestnetState): void {
  mkdirSync(paths.dir, { recursive: true })
  const tmp = `${paths.state}.tmp-${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(tmp, paths.state)
}

/** The state of the testnet in `paths`, or null when none was ever started there. */
export function readState (paths: TestnetPaths): TestnetState | null {
  let text: string
  try { text = readFileSync(paths.state, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new TestnetStateError(`cannot read ${paths.state}: ${(err as Error).message}`)
  }
  if (text.length > MAX_STATE_BYTES) throw new TestnetStateError(`${paths.state} is too large`)
  let s: TestnetState
  try { s = JSON.parse(text) } catch { throw new TestnetStateError(`${paths.state} is not JSON`) }
  if (s?.version !== STATE_VERSION || !Array.isArray(s.peers) || !Number.isInteger(s.pid)) throw new TestnetStateError(`${paths.state} is not a codenet testnet state file`)
  return s
}

export function processAlive (pid: number | null): boolean {
  if (pid === null || pid <= 0) return false
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** The running testnet, or a clear error saying there is none. */
export function requireRunning (paths: TestnetPaths): TestnetState {
  const s = readState(paths)
  if (s === null) throw new TestnetStateError(`no testnet state in ${paths.dir}: start one with \`codenet testnet --keep\``)
  if (!processAlive(s.pid) || s.phase === 'stopped') throw new TestnetStateError(`the testnet in ${paths.dir} is not running (launcher pid ${s.pid} is gone; phase ${s.phase})`)
  return s
}
