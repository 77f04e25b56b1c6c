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
import type { TestnetSummary } from '../snapshot.ts'

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url))

export class BenchRunError extends Error {
  override name = 'BenchRunError'
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
  const code = await new Promise<number | null>((resolveExit, reject) => {
    // SIGTERM: the launcher stops every peer and exits; SIGKILL only if it does not.
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGTERM')
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, 45_000).unref()
    }, timeoutMs)
    child.on('error', (err) => { clearTimeout(timer); reject(new BenchRunError(`cannot start codenet testnet: ${err.message}`)) })
    child.on('exit', (c) => { clearTimeout(timer); resolveExit(c) })
  })
  const wallSeconds = (performance.now() - started) / 1000
  const tail = output.trim() === '' ? 'see the peer logs there' : output.trim().split('\n').slice(-4).join(' | ')
  if (timedOut) throw new BenchRunError(`codenet testnet ${argsOf(opts.flags).join(' ')} did not finish within ${timeoutMs / 1000} s (logs in ${dir}): ${tail}`)
  if (code !== 0 || !existsSync(jsonFile)) throw new BenchRunError(`codenet testnet ${argsOf(opts.flags).join(' ')} exited with ${code} (logs in ${dir}): ${tail}`)
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
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { peers: Array<{ slot: number, pid: number | null }> }
    pids = state.peers.sort((a, b) => a.slot - b.slot).map(p => p.pid)
  } catch {}
  return { summary, peers, pids, wallSeconds }
}
