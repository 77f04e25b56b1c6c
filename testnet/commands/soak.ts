/**
 * `codenet soak --seeds N [--from S] [--json FILE] [--steps K] [--peers P] [--jobs J] …`
 *
 * A seeded nemesis: for each seed s in [S, S + N) a random combination of soft errors, network
 * faults and faulty peers (at most the code's f = ⌊(P − Q)/2⌋ of them) is drawn from s alone
 * (testnet/soak/nemesis.ts), the simulation runs with those faults and once clean, and one row
 * per seed says how it ended and how far the decoded model is from the clean run's. Exit 1 when
 * any seed had silent errors, an exception (or hung), or completed with weights farther than
 * 1e-9 from the clean run's. `--seeds 1 --from S` replays seed S exactly.
 */
import { writeFileSync } from 'node:fs'
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { ConfigError, parseModel, trainingConfigFromFlags } from '../../training/config.ts'
import { schemeForConfig } from '../../training/strategy.ts'
import { DEFAULT_SOAK_BASE, toleratedFaults, type SoakBase } from '../soak/nemesis.ts'
import { rowFails, WEIGHT_DISTANCE_LIMIT, type SoakRow } from '../soak/run.ts'
import { runSeeds } from '../soak/pool.ts'

function whole (flag: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${flag} must be a whole number, got '${v}'`)
  const n = Number(v)
  if (n < min || n > max) throw new UsageError(`--${flag} must be between ${min} and ${max}, got ${n}`)
  return n
}

const exp = (x: number | null): string => x === null ? '-' : Number.isFinite(x) ? x.toExponential(1) : String(x)
const cnt = (x: number | null): string => x === null ? '-' : String(x)

export const SOAK_HEADER = ` seed  outcome    silent  rollbacks  resyncs  repairs  acc %   Δclean  dW       dB       faults`

export function formatRow (r: SoakRow): string {
  const outcome = r.outcome === 'completed' ? 'completed' : r.outcome === 'stalled' ? 'STALLED' : 'EXCEPTION'
  const acc = r.accuracy === null ? '-' : (100 * r.accuracy).toFixed(2)
  const delta = r.accuracy === null || r.cleanAccuracy === null ? '-' : `${r.accuracy >= r.cleanAccuracy ? '+' : ''}${(100 * (r.accuracy - r.cleanAccuracy)).toFixed(2)}`
  const why = r.reason !== null ? ` — ${r.reason}` : ''
  const flag = rowFails(r) ? '  ← FAIL' : ''
  return `${String(r.seed).padStart(5)}  ${outcome.padEnd(9)}  ${cnt(r.silent).padStart(6)}  ${cnt(r.rollbacks).padStart(9)}  ${cnt(r.resyncs).padStart(7)}  ${cnt(r.repairs).padStart(7)}  ${acc.padStart(5)}  ${delta.padStart(6)}  ${exp(r.weightDistance).padEnd(7)}  ${exp(r.biasDistance).padEnd(7)}  ${r.faults}${why}${flag}`
}

export interface SoakTotals {
  seeds: number
  completed: number
  stalled: number
  exceptions: number
  silent: number
  /** Over completed runs: the largest of dW and dB, and its seed. */
  worstDistance: number
  worstSeed: number | null
  failing: number[]
}

export function soakTotals (rows: readonly SoakRow[]): SoakTotals {
  let worstDistance = 0; let worstSeed: number | null = null
  for (const r of rows) {
    if (r.outcome !== 'completed') continue
    const d = Math.max(r.weightDistance ?? Infinity, r.biasDistance ?? Infinity)
    if (!(d <= worstDistance)) { worstDistance = d; worstSeed = r.seed }
  }
  return {
    seeds: rows.length,
    completed: rows.filter(r => r.outcome === 'completed').length,
    stalled: rows.filter(r => r.outcome === 'stalled').length,
    exceptions: rows.filter(r => r.outcome === 'exception').length,
    silent: rows.reduce((s, r) => s + (r.silent ?? 0), 0),
    worstDistance,
    worstSeed,
    failing: rows.filter(rowFails).map(r => r.seed)
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, {
    seeds: { type: 'string' },
    from: { type: 'string' },
    json: { type: 'string' },
    steps: { type: 'string' },
    peers: { type: 'string' },
    model: { type: 'string' },
    batch: { type: 'string' },
    dataset: { type: 'string' },
    jobs: { type: 'string' },
    'timeout-s': { type: 'string' }
  })
  if (values.seeds === undefined) throw new UsageError('--seeds N is required (how many seeds to run)')
  const seeds = whole('seeds', values.seeds, 0, 1, 1_000_000)
  const from = whole('from', values.from, 1, 0, 2 ** 31 - 1 - seeds)
  const jobs = whole('jobs', values.jobs, 1, 0, 64)
  const timeoutS = whole('timeout-s', values['timeout-s'], 120, 1, 86_400)
  const dataset = values.dataset ?? DEFAULT_SOAK_BASE.dataset
  if (dataset !== 'synthetic' && dataset !== 'mnist') throw new UsageError(`--dataset must be one of synthetic|mnist, got '${dataset}'`)
  const base: SoakBase = {
    peers: whole('peers', values.peers, DEFAULT_SOAK_BASE.peers, 3, 64),
    steps: whole('steps', values.steps, DEFAULT_SOAK_BASE.steps, 20, 1_000_000),
    model: values.model !== undefined ? parseModel(values.model) : dataset === 'mnist' ? [784, 32, 10] : [...DEFAULT_SOAK_BASE.model],
    batch: whole('batch', values.batch, DEFAULT_SOAK_BASE.batch, 1, 65_536),
    dataset
  }
  // The base must make a valid job (the code for P, the model for the data): checked once, here.
  let clean
  try {
    clean = trainingConfigFromFlags({ peers: String(base.peers), steps: String(base.steps), model: base.model.join('-'), batch: String(base.batch), dataset, seed: String(from) })
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message)
    throw err
  }
  const scheme = schemeForConfig(clean)
  const f = toleratedFaults(clean)
  const out = ctx.stdout
  out.write(`codenet soak: seeds ${from}..${from + seeds - 1}; ${base.peers} peers, code ${scheme.kind} m=${scheme.m} n=${scheme.n} (Q fwd ${scheme.recoveryThreshold.forward}, bwd ${scheme.recoveryThreshold.backward}; f = ${f} faulty peers), ${dataset} ${base.model.join('-')}, batch ${base.batch}, ${base.steps} steps; ${jobs === 0 ? 'in process' : `${jobs} worker${jobs > 1 ? 's' : ''}`}\n`)
  out.write(`${SOAK_HEADER}\n`)

  const t0 = performance.now()
  // Rows are printed in seed order as soon as every earlier seed is done.
  const done = new Map<number, SoakRow>()
  let next = from
  const rows = await runSeeds(Array.from({ length: seeds }, (_, i) => from + i), base, {
    jobs,
    timeoutMs: timeoutS * 1000,
    onRow: (row) => {
      done.set(row.seed, row)
      while (done.has(next)) { out.write(`${formatRow(done.get(next) as SoakRow)}\n`); done.delete(next); next++ }
    }
  })
  const wall = (performance.now() - t0) / 1000
  const t = soakTotals(rows)
  out.write(`summary: ${t.seeds} seeds, ${t.completed} completed, ${t.stalled} stalled, ${t.exceptions} exceptions; total silent ${t.silent}; worst weight distance ${exp(t.worstDistance)}${t.worstSeed !== null ? ` (seed ${t.worstSeed})` : ''} (limit ${exp(WEIGHT_DISTANCE_LIMIT)}); ${wall.toFixed(1)} s (${(wall / t.seeds).toFixed(2)} s a seed)\n`)
  if (t.failing.length > 0) {
    const same = (['peers', 'steps', 'model', 'batch', 'dataset'] as const).filter(k => values[k] !== undefined).map(k => ` --${k} ${values[k] as string}`).join('')
    out.write(`failing seeds: ${t.failing.join(' ')} (replay one: codenet soak --seeds 1 --from S${same})\n`)
  }
  if (values.json !== undefined) {
    const doc = { base, f, code: { scheme: scheme.kind, m: scheme.m, n: scheme.n, recoveryThreshold: { ...scheme.recoveryThreshold } }, from, seeds, wallSeconds: wall, totals: t, rows }
    try {
      writeFileSync(values.json, `${JSON.stringify(doc, (_k, v: unknown) => typeof v === 'number' && !Number.isFinite(v) ? String(v) : v, 2)}\n`)
    } catch (err) {
      throw new UsageError(`cannot write the rows to ${values.json}: ${(err as Error).message}`)
    }
  }
  return t.failing.length > 0 ? 1 : 0
}

export const soakCommand: Command = {
  ...describeCommand('soak'),
  run
}
