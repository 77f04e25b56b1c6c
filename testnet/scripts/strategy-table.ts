/**
 * The strategy × error-rate table: every strategy trains the same model on the same data
 * order with the same seed at each soft-error rate, and the table reports test accuracy,
 * wall seconds, rollbacks, repairs and silent errors. Writes docs/strategy-table.md (and
 * the raw summaries next to it as JSON).
 *
 *   node testnet/scripts/strategy-table.ts [--epochs 3] [--rates 0,0.001,0.01,0.05]
 *        [--strategies codenet,replication,uncoded] [--kinds gaussian] [--extra-bitflip 0.01]
 *        [--out docs/strategy-table.md] [other training flags, e.g. --peers 6 --seed 1]
 *   node testnet/scripts/strategy-table.ts --from-json a.json,b.json [--out …]
 *        (render one table from the JSON of several partial runs, e.g. one per strategy
 *        run in parallel: --strategies codenet --out /tmp/codenet.md)
 *
 * Run with the project's Node 24 (`node_modules/.bin/node`, or `npx node`).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { TRAINING_FLAG_NAMES, trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { simulate, type SimulationSummary } from '../../training/simulate.ts'

const { values } = parseArgs({
  options: {
    ...Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }])),
    rates: { type: 'string', default: '0,0.001,0.01,0.05' },
    strategies: { type: 'string', default: 'codenet,replication,uncoded' },
    kinds: { type: 'string', default: 'gaussian' },
    'extra-bitflip': { type: 'string', default: '0.01' },
    out: { type: 'string', default: 'docs/strategy-table.md' },
    /** Render the table from summaries saved by earlier runs (comma-separated JSON files), running nothing. */
    'from-json': { type: 'string' }
  },
  strict: true
})
const all = values as Record<string, string | undefined>
const base: RawTrainingFlags = {}
for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string' && n !== 'strategy' && n !== 'error-rate' && n !== 'error-kind') base[n] = all[n]
if (base.epochs === undefined && base.steps === undefined) base.epochs = '3'

const rates = values.rates.split(',').map(Number)
const strategies = values.strategies.split(',')
const runs: Array<{ strategy: string, rate: number, kind: string }> = []
for (const kind of values.kinds.split(',')) for (const strategy of strategies) for (const rate of rates) runs.push({ strategy, rate, kind })
if (values['extra-bitflip'] !== '' && !values.kinds.split(',').includes('bitflip')) {
  for (const r of values['extra-bitflip'].split(',').map(Number)) for (const strategy of strategies) runs.push({ strategy, rate: r, kind: 'bitflip' })
}

const results: SimulationSummary[] = []
const failures: string[] = []
const saved = values['from-json'] === undefined ? [] : values['from-json'].split(',')
for (const f of saved) results.push(...(JSON.parse(readFileSync(f, 'utf8')) as SimulationSummary[]))
for (const r of saved.length > 0 ? [] : runs) {
  const config = trainingConfigFromFlags({ ...base, strategy: r.strategy, 'error-rate': String(r.rate), 'error-kind': r.kind })
  process.stderr.write(`${r.strategy} ${r.kind} ε=${r.rate} … `)
  let summary: SimulationSummary
  try {
    summary = (await simulate({ config })).summary
  } catch (err) {
    // One failed configuration must not lose the others: record it and go on.
    process.stderr.write(`failed: ${(err as Error).message}\n`)
    failures.push(`${r.strategy} ${r.kind} ε=${r.rate}: ${(err as Error).name}: ${(err as Error).message}`)
    continue
  }
  results.push(summary)
  process.stderr.write(`accuracy ${(100 * summary.testAccuracy).toFixed(2)} %, ${summary.wallSeconds.toFixed(0)} s, rollbacks ${summary.rollbacks}, repairs ${summary.repairs}, silent ${summary.faults.silent}${summary.stalled !== null ? ' (stalled)' : ''}\n`)
}

const s0 = results[0]
const pct = (x: number): string => `${(100 * x).toFixed(2)} %`
const lines = [
  '# Strategy × error rate',
  '',
  saved.length > 0
    ? 'Produced by `node testnet/scripts/strategy-table.ts --strategies S --out S.md` for each strategy S (run in parallel), rendered with `--from-json`.'
    : `Produced by \`node testnet/scripts/strategy-table.ts ${process.argv.slice(2).join(' ')}\`.`.replace(/ `\.$/, '`.'),
  `${s0.peers} peers, model ${s0.model.join('-')}, batch ${s0.batch}, ${s0.epochs.toFixed(2)} epochs (${s0.steps} steps), seed ${s0.seed}, dataset ${s0.dataset},`,
  `error model ${s0.errorModel}. Every run is \`codenet simulate\` with these flags plus \`--strategy S --error-rate ε --error-kind K\`.`,
  '\'silent\' = rounds in which some peer accepted a wrong result, + shards found wrong at a checkpoint after passing the audit',
  '(see docs/simulate.md). \'truth acc.\' is the accuracy of the simulator\'s ground-truth weights (what the network should have learnt).',
  '',
  '| strategy | code | kind | ε | test accuracy | truth acc. | wall s | injected | detected | rollbacks | repairs | silent | completed |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
]
for (const s of results) {
  lines.push(`| ${s.strategy} | ${s.code.scheme} m=${s.code.m} n=${s.code.n} | ${s.errorKind} | ${s.errorRate} | ${pct(s.testAccuracy)} | ${pct(s.groundTruth.testAccuracy)} | ${s.wallSeconds.toFixed(0)} | ${s.faults.injected} | ${s.faults.detected} | ${s.rollbacks} | ${s.repairs} | ${s.faults.silent} | ${s.stalled === null ? `${s.completedSteps}/${s.steps}` : `stalled at ${s.completedSteps}/${s.steps}`} |`)
}
if (failures.length > 0) lines.push('', 'Runs that failed:', '', ...failures.map(f => `- ${f}`))
lines.push('', `Machine: ${process.platform} ${process.arch}, Node ${process.version}; wall seconds are for all peers simulated on one core and vary with load.`, '')
mkdirSync(dirname(values.out), { recursive: true })
writeFileSync(values.out, lines.join('\n'))
writeFileSync(values.out.replace(/\.md$/, '.json'), `${JSON.stringify(results, null, 2)}\n`)
process.stderr.write(`wrote ${values.out}\n`)
