/**
 * One local testnet run for the benchmarks (`bench step`, `bench scaling`), through the same
 * code path as `codenet testnet`: the CLI in a child process (`codenet testnet … --quiet --json
 * FILE`), in a state folder of its own (CODENET_TESTNET_DIR) so it never meets a user's testnet.
 * Returns the testnet summary and every peer's own summary (peer-K.summary.json).
 *
 * Same options: the defaults of the child's `codenet` may differ from this process's (another
 * version of the tree), so `explicitFlags` spells out what shapes the work, and the job the
 * launcher wrote is checked against the expected config field by field after the run.
 *
 * Soft errors: without --error-rate the testnet injects DEFAULT_SOFT_ERROR_RATE (testnet/cli.ts);
 * the benchmarks always pass --error-rate explicitly (0 by default), so a run measures training,
 * not correction.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PeerSummary } from '../../node/engine.ts'
import type { TrainingConfig } from '../../training/config.ts'
import { traceOf, type MonitorView, type TestnetSummary, type TestnetTrace } from '../snapshot.ts'
import { readState, testnetPaths, type TestnetState } from '../state.ts'

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url))

export class BenchRunError extends Error {
  override name = 'BenchRunError'
  /** How far the failed run got, as the launcher last saw it (its state.json); null if unknown. */
  trace: TestnetTrace | null = null
  /** The run was stopped for making no progress (TestnetRunOptions.stallMs). */
  noProgress = false
}

export interface TestnetRunOptions {
  /** Training flags as `codenet testnet` takes them (strings, without dashes): must include `error-rate`. */
  flags: Record<string, string>
  /** The state folder (created; the caller removes it). */
  dir: string
  /** Profile every peer (V8 --cpu-prof) into this folder. */
  cpuProfDir?: string
  /** Give up (SIGTERM the launcher, which stops its peers) after this long. Default 30 min. */
  timeoutMs?: number
  /** The config the run must have trained (compared with the job the launcher wrote). */
  expect?: TrainingConfig
  /**
   * Stop the run when the network's furthest step has not moved for this long while training
   * (read from the launcher's state.json every few seconds): a network that only rolls back and
   * waits out timeouts reaches its own stall limit far later. Default: never.
   */
  stallMs?: number
}

export interface TestnetRun {
  summary: TestnetSummary
  /** The peers' own summaries, by slot. */
  peers: PeerSummary[]
  /** Slot → pid of the peer process (the last one, for a restarted peer). */
  pids: Array<number | null>
  wallSeconds: number
}

/**
 * `flags` plus the options that shape a step, from the resolved config, so the child trains what
 * this process resolved whatever its own defaults (the model only for MNIST and synthetic data:
 * files give it through --hidden).
 */
export function explicitFlags (config: TrainingConfig, flags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {
    ...flags,
    strategy: config.strategy,
    batch: String(config.batch),
    activation: config.activation,
    lr: String(config.lr),
    momentum: String(config.momentum),
    'lr-schedule': config.lrSchedule,
    seed: String(config.seed),
    'checkpoint-every': String(config.checkpointEvery)
  }
  if ((config.dataset === 'mnist' || config.dataset === 'synthetic') && flags.hidden === undefined) out.model = config.model.join('-')
  return out
}

/** The fields where two configs differ. */
export function differences (a: TrainingConfig, b: TrainingConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof TrainingConfig>
  return [...keys].filter(k => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map(k => `${k} ${JSON.stringify(b[k])} (expected ${JSON.stringify(a[k])})`)
}

/** `--name value` pairs of a flag record. */
export const argsOf = (flags: Record<string, string>): string[] => Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])

/**
 * Whether a training network has stopped moving: its furthest step (the launcher's lower-median
 * step) has not risen for `stallMs`. Rollbacks and replays below the furthest step do not count
 * as progress; any phase but training (joining, finishing) restarts the clock.
 */
export class ProgressWatch {
  private furthest = -1
  private movedAt: number
  readonly stallMs: number
  constructor (stallMs: number, now: number) { this.stallMs = stallMs; this.movedAt = now }

  /** One reading; the furthest step when the network has been stuck for stallMs, else null. */
  observe (phase: string, step: number | null, now: number): number | null {
    if (phase !== 'training' || step === null) { this.movedAt = now; return null }
    if (step > this.furthest) { this.furthest = step; this.movedAt = now; return null }
    return now - this.movedAt > this.stallMs ? this.furthest : null
  }
}

/** The launcher's state in `dir` (testnet/state.ts), with its monitor view when whole; null while absent or unreadable. */
function launcherState (dir: string): { phase: string, monitor: MonitorView | null } | null {
  let s: TestnetState | null
  try { s = readState(testnetPaths(dir)) } catch { return null }
  if (s === null) return null
  const m = s.monitor
  return { phase: s.phase, monitor: m !== null && typeof m.step === 'number' && Array.isArray(m.series) && Array.isArray(m.accuracy) && Array.isArray(m.events) ? m : null }
}

export async function runTestnet (opts: TestnetRunOptions): Promise<TestnetRun> {
  if (opts.flags['error-rate'] === undefined) throw new Error('runTestnet: pass --error-rate explicitly (the testnet injects soft errors by default)')
  const dir = resolve(opts.dir)
  mkdirSync(dir, { recursive: true })
  const jsonFile = join(dir, 'bench-summary.json')
  const env: NodeJS.ProcessEnv = { ...process.env, CODENET_TESTNET_DIR: dir, DEBUG: '' }
  delete env.CODENET_TESTNET_SUPERVISED
  if (opts.cpuProfDir !== undefined) {
    mkdirSync(opts.cpuProfDir, { recursive: true })
    env.CODENET_PEER_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir="${resolve(opts.cpuProfDir)}"`
  }
  const args = [BIN, 'testnet', ...argsOf(opts.flags), '--quiet', '--json', jsonFile]
  const started = performance.now()
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (d: Buffer): void => { output = (output + d.toString()).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000
  let timedOut = false
  let stalled: { step: number, seconds: number } | null = null
  // SIGTERM: the launcher stops every peer and exits; SIGKILL only if it does not.
  const stop = (): void => {
    child.kill('SIGTERM')
    setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, 45_000).unref()
  }
  const progress = opts.stallMs === undefined ? null : new ProgressWatch(opts.stallMs, performance.now())
  const watch = progress === null
    ? null
    : setInterval(() => {
      const s = launcherState(dir)
      if (s === null || stalled !== null) return
      const stuck = progress.observe(s.phase, s.monitor?.step ?? null, performance.now())
      if (stuck !== null) { stalled = { step: stuck, seconds: progress.stallMs / 1000 }; stop() }
    }, Math.min(5000, Math.max(500, progress.stallMs / 10)))
  const code = await new Promise<number | null>((resolveExit, reject) => {
    const timer = setTimeout(() => { timedOut = true; stop() }, timeoutMs)
    child.on('error', (err) => { clearTimeout(timer); reject(new BenchRunError(`cannot start codenet testnet: ${err.message}`)) })
    child.on('exit', (c) => { clearTimeout(timer); resolveExit(c) })
  }).finally(() => { if (watch !== null) clearInterval(watch) })
  const wallSeconds = (performance.now() - started) / 1000
  const tail = output.trim() === '' ? 'see the peer logs there' : output.trim().split('\n').slice(-4).join(' | ')
  const failed = (message: string, noProgress = false): BenchRunError => {
    const err = new BenchRunError(message)
    const monitor = launcherState(dir)?.monitor ?? null
    err.trace = monitor === null ? null : traceOf(monitor)
    err.noProgress = noProgress
    return err
  }
  const stall = stalled as { step: number, seconds: number } | null
  if (stall !== null) throw failed(`codenet testnet ${argsOf(opts.flags).join(' ')} made no progress for ${stall.seconds} s beyond step ${stall.step} (stopped; logs in ${dir})`, true)
  if (timedOut) throw failed(`codenet testnet ${argsOf(opts.flags).join(' ')} did not finish within ${timeoutMs / 1000} s (logs in ${dir}): ${tail}`)
  if (code !== 0 || !existsSync(jsonFile)) throw failed(`codenet testnet ${argsOf(opts.flags).join(' ')} exited with ${code} (logs in ${dir}): ${tail}`)
  const summary = JSON.parse(readFileSync(jsonFile, 'utf8')) as TestnetSummary
  if (opts.expect !== undefined) {
    const job = JSON.parse(readFileSync(join(dir, 'job.json'), 'utf8')) as { config: TrainingConfig }
    const diff = differences(opts.expect, job.config)
    if (diff.length > 0) throw new BenchRunError(`the testnet trained another job than expected: ${diff.join(', ')}`)
  }
  const peers: PeerSummary[] = []
  const slotFiles = readdirSync(dir).filter(f => /^peer-\d+\.summary\.json$/.test(f)).sort((a, b) => parseInt(a.slice(5)) - parseInt(b.slice(5)))
  for (const f of slotFiles) peers.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as PeerSummary)
  let pids: Array<number | null> = []
  try {
    const state = readState(testnetPaths(dir))
    if (state !== null) pids = [...state.peers].sort((a, b) => a.slot - b.slot).map(p => p.pid)
  } catch {}
  return { summary, peers, pids, wallSeconds }
}
