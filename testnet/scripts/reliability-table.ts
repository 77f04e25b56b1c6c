/**
 * The reliability table of docs/reliability.md: fault kind × intensity → runs, how they ended,
 * detected, corrected, rollbacks, repairs, resyncs, silent, accuracy against the clean run of
 * the same seed, and the largest relative distance of the decoded weights to the clean run's.
 * Every scenario is given as `codenet simulate` flags (parsed by the same code as the CLI), run
 * over seeds 1..N; the last row is `codenet soak` over its own seeds.
 *
 *   node_modules/.bin/node testnet/scripts/reliability-table.ts [--seeds 5] [--soak-seeds 50]
 *        [--steps 50] [--peers 6] [--only NAME,…] [--json FILE] [--out FILE]
 *
 * Prints the markdown table (and writes it to --out). Run with the project's Node 24.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { faultPlanFromFlags, simulateFaultOptions, type RawFaultFlags } from '../../training/network-flags.ts'
import { simulate, type SimulationResult } from '../../training/simulate.ts'
import { modelDistance, runSoakSeed, type SoakRow } from '../soak/run.ts'
import { DEFAULT_SOAK_BASE, toleratedFaults, type SoakBase } from '../soak/nemesis.ts'

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '5' },
    'soak-seeds': { type: 'string', default: '50' },
    steps: { type: 'string', default: String(DEFAULT_SOAK_BASE.steps) },
    peers: { type: 'string', default: String(DEFAULT_SOAK_BASE.peers) },
    only: { type: 'string' },
    json: { type: 'string' },
    out: { type: 'string' }
  },
  strict: true
})

interface Scenario {
  kind: string
  intensity: string
  /** Training flags (error-rate, …) and fault flags, as on the command line. */
  training?: RawTrainingFlags
  faults?: RawFaultFlags
}

const SCENARIOS: Scenario[] = [
  { kind: 'none', intensity: '—' },
  { kind: 'soft errors, gaussian σ 1, every site', intensity: 'ε 0.001', training: { 'error-rate': '0.001' } },
  { kind: 'soft errors, gaussian σ 1, every site', intensity: 'ε 0.01', training: { 'error-rate': '0.01' } },
  { kind: 'soft errors, gaussian σ 1, every site', intensity: 'ε 0.03', training: { 'error-rate': '0.03' } },
  { kind: 'soft errors, gaussian σ 0.01, every site', intensity: 'ε 0.01', training: { 'error-rate': '0.01', 'error-magnitude': '0.01' } },
  { kind: 'soft errors, bit flips, every site', intensity: 'ε 0.01', training: { 'error-rate': '0.01', 'error-kind': 'bitflip' } },
  { kind: 'soft errors, bit flips, every site', intensity: 'ε 0.03', training: { 'error-rate': '0.03', 'error-kind': 'bitflip' } },
  { kind: 'soft errors, adversarial (correlated)', intensity: 'ε 0.01', training: { 'error-rate': '0.01', 'error-model': 'adversarial' } },
  { kind: 'soft errors at matmul only', intensity: 'ε 0.05', training: { 'error-rate': '0.05' }, faults: { 'fault-site': ['matmul'] } },
  { kind: 'loss, stream (retransmitted)', intensity: 'p 0.1', faults: { 'drop-rate': '0.1' } },
  { kind: 'loss, stream (retransmitted)', intensity: 'p 0.4', faults: { 'drop-rate': '0.4' } },
  { kind: 'loss, datagrams (erasures)', intensity: 'p 0.02', faults: { 'drop-rate': '0.02', datagrams: true } },
  { kind: 'loss, datagrams (erasures)', intensity: 'p 0.1', faults: { 'drop-rate': '0.1', datagrams: true } },
  { kind: 'delay', intensity: '0.2 × 30 ms', faults: { 'delay-rate': '0.2', 'delay-ms': '30' } },
  { kind: 'delay', intensity: '0.5 × 300 ms', faults: { 'delay-rate': '0.5', 'delay-ms': '300' } },
  { kind: 'duplicates', intensity: 'p 0.3', faults: { 'duplicate-rate': '0.3' } },
  { kind: 'reordering', intensity: 'p 0.5', faults: { 'reorder-rate': '0.5' } },
  { kind: 'garbled in transit, stream', intensity: 'p 0.05', faults: { 'corrupt-rate': '0.05' } },
  { kind: 'garbled in transit, datagrams', intensity: 'p 0.01', faults: { 'corrupt-rate': '0.01', datagrams: true } },
  { kind: 'garbled in transit, datagrams', intensity: 'p 0.05', faults: { 'corrupt-rate': '0.05', datagrams: true } },
  { kind: 'garbled in transit, datagrams, σ 0.001', intensity: 'p 0.05', faults: { 'corrupt-rate': '0.05', 'corrupt-magnitude': '0.001', datagrams: true } },
  { kind: 'straggler (1 peer)', intensity: '300 ms', faults: { straggler: ['1:300'] } },
  { kind: 'partition (1 peer cut off)', intensity: 'steps 10–15', faults: { partition: ['10-15:5'] } },
  { kind: 'partition (1 peer cut off)', intensity: 'steps 10–30', faults: { partition: ['10-30:5'] } },
  { kind: 'partition (1 peer cut off), checkpoints every 10', intensity: 'steps 15–25', training: { 'checkpoint-every': '10' }, faults: { partition: ['15-25:5'] } },
  { kind: 'crash + restart (1 peer)', intensity: 'at 10, down 3', faults: { crash: ['2@10+3'] } },
  { kind: 'crash + restart (1 peer)', intensity: 'at 20, down 10', faults: { crash: ['2@20+10'] } },
  { kind: 'byzantine peer', intensity: '1 peer', faults: { 'byzantine-peers': '1' } },
  { kind: 'lying voter', intensity: '1 peer', faults: { 'lying-voters': '1' } },
  { kind: 'byzantine peer + soft errors', intensity: '1 peer, ε 0.01', training: { 'error-rate': '0.01' }, faults: { 'byzantine-peers': '1' } },
  // Beyond the tolerance f: the claim is only "refused, not silently accepted".
  { kind: 'beyond f: byzantine peers', intensity: '2 peers', faults: { 'byzantine-peers': '2' } },
  { kind: 'beyond f: partition into halves', intensity: 'steps 10–15', faults: { partition: ['10-15:0,1,2|3,4,5'] } }
]

interface Cell {
  kind: string
  intensity: string
  runs: number
  completed: number
  stalled: number
  exceptions: number
  injected: number
  detected: number
  corrected: number
  rollbacks: number
  repairs: number
  resyncs: number
  silent: number
  /** Mean test accuracy minus the clean run's, percentage points (over runs that ended). */
  accuracyDelta: number
  /** Largest dW or dB of a completed run. */
  maxDistance: number
  notes: string[]
}

const seeds = Number(values.seeds)
const soakSeeds = Number(values['soak-seeds'])
const base: SoakBase = { ...DEFAULT_SOAK_BASE, steps: Number(values.steps), peers: Number(values.peers), model: [...DEFAULT_SOAK_BASE.model] }
const baseFlags: RawTrainingFlags = { peers: String(base.peers), steps: String(base.steps), model: base.model.join('-'), batch: String(base.batch), dataset: base.dataset }
const only = values.only?.split(',')

const cleanRuns = new Map<number, SimulationResult>()
async function cleanRun (seed: number): Promise<SimulationResult> {
  let r = cleanRuns.get(seed)
  if (r === undefined) { r = await simulate({ config: trainingConfigFromFlags({ ...baseFlags, seed: String(seed) }) }); cleanRuns.set(seed, r) }
  return r
}

const emptyCell = (kind: string, intensity: string): Cell => ({ kind, intensity, runs: 0, completed: 0, stalled: 0, exceptions: 0, injected: 0, detected: 0, corrected: 0, rollbacks: 0, repairs: 0, resyncs: 0, silent: 0, accuracyDelta: 0, maxDistance: 0, notes: [] })

const cells: Cell[] = []
const t0 = performance.now()
for (const sc of SCENARIOS) {
  if (only !== undefined && !only.some(o => `${sc.kind} ${sc.intensity}`.includes(o))) continue
  const cell = emptyCell(sc.kind, sc.intensity)
  let accSum = 0; let accN = 0
  for (let seed = 1; seed <= seeds; seed++) {
    process.stderr.write(`${sc.kind} ${sc.intensity} seed ${seed} … `)
    cell.runs++
    const config = trainingConfigFromFlags({ ...baseFlags, ...sc.training, seed: String(seed) })
    const plan = faultPlanFromFlags(sc.faults ?? {}, { config, totalSteps: base.steps })
    let r: SimulationResult
    try {
      r = await simulate({ config, ...simulateFaultOptions(plan) })
    } catch (err) {
      cell.exceptions++
      cell.notes.push(`seed ${seed}: ${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`)
      process.stderr.write('exception\n')
      continue
    }
    const s = r.summary
    const clean = await cleanRun(seed)
    if (s.stalled !== null) { cell.stalled++; cell.notes.push(`seed ${seed} stalled`) } else cell.completed++
    cell.injected += s.faults.injected; cell.detected += s.faults.detected; cell.corrected += s.faults.corrected
    cell.rollbacks += s.rollbacks; cell.repairs += s.repairs; cell.resyncs += s.resyncs; cell.silent += s.faults.silent
    if (s.faults.silent > 0) cell.notes.push(`seed ${seed}: silent ${s.faults.silent}`)
    accSum += s.testAccuracy - clean.summary.testAccuracy; accN++
    if (s.stalled === null) {
      const d = modelDistance(r.model, clean.model)
      cell.maxDistance = Math.max(cell.maxDistance, d.weights, d.biases)
    }
    process.stderr.write(`${s.stalled !== null ? 'stalled' : 'done'}\n`)
  }
  cell.accuracyDelta = accN === 0 ? NaN : 100 * accSum / accN
  cells.push(cell)
}

// The nemesis: the soak's own draws.
if (soakSeeds > 0 && (only === undefined || only.includes('soak'))) {
  const cell = emptyCell(`codenet soak (random mix, ≤ f = ${toleratedFaults(trainingConfigFromFlags({ ...baseFlags }))} faulty peers)`, `seeds 1–${soakSeeds}`)
  let accSum = 0; let accN = 0
  const rows: SoakRow[] = []
  for (let seed = 1; seed <= soakSeeds; seed++) {
    process.stderr.write(`soak seed ${seed} … `)
    const row = await runSoakSeed(seed, base)
    rows.push(row)
    cell.runs++
    if (row.outcome === 'exception') { cell.exceptions++; cell.notes.push(`seed ${seed}: ${row.reason ?? ''}`); process.stderr.write('exception\n'); continue }
    if (row.outcome === 'stalled') { cell.stalled++; cell.notes.push(`seed ${seed} stalled`) } else cell.completed++
    cell.injected += row.injected ?? 0; cell.detected += row.detected ?? 0; cell.corrected += row.corrected ?? 0
    cell.rollbacks += row.rollbacks ?? 0; cell.repairs += row.repairs ?? 0; cell.resyncs += row.resyncs ?? 0; cell.silent += row.silent ?? 0
    if ((row.silent ?? 0) > 0) cell.notes.push(`seed ${seed}: silent ${row.silent}`)
    if (row.accuracy !== null && row.cleanAccuracy !== null) { accSum += row.accuracy - row.cleanAccuracy; accN++ }
    if (row.outcome === 'completed') cell.maxDistance = Math.max(cell.maxDistance, row.weightDistance ?? Infinity, row.biasDistance ?? Infinity)
    process.stderr.write(`${row.outcome}\n`)
  }
  cell.accuracyDelta = accN === 0 ? NaN : 100 * accSum / accN
  cells.push(cell)
}
const wall = (performance.now() - t0) / 1000

const fmtD = (x: number): string => x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(0) : String(x)
const lines = [
  `| fault | intensity | runs | completed / stalled / exc. | injected | detected | corrected | rollbacks | repairs | resyncs | silent | accuracy vs clean (pp) | max dW, dB |`,
  '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...cells.map(c => `| ${c.kind} | ${c.intensity} | ${c.runs} | ${c.completed} / ${c.stalled} / ${c.exceptions} | ${c.injected} | ${c.detected} | ${c.corrected} | ${c.rollbacks} | ${c.repairs} | ${c.resyncs} | ${c.silent === 0 ? '0' : `**${c.silent}**`} | ${Number.isFinite(c.accuracyDelta) ? `${c.accuracyDelta >= 0 ? '+' : ''}${c.accuracyDelta.toFixed(2)}` : '—'} | ${fmtD(c.maxDistance)} |`)
]
const notes = cells.filter(c => c.notes.length > 0).map(c => `- ${c.kind}, ${c.intensity}: ${c.notes.join('; ')}`)
const text = [
  `${base.peers} peers, synthetic ${base.model.join('-')}, batch ${base.batch}, ${base.steps} steps; scenario rows: seeds 1–${seeds} each; ${wall.toFixed(0)} s wall`,
  '',
  ...lines,
  ...(notes.length > 0 ? ['', 'Runs that did not end cleanly:', '', ...notes] : []),
  ''
].join('\n')
process.stdout.write(text)
if (values.out !== undefined) writeFileSync(values.out, text)
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ base, seeds, soakSeeds, wallSeconds: wall, cells }, null, 2)}\n`)
