/**
 * `codenet testnet [training options] [--keep] [--json FILE] [--export-weights FILE] [--dashboard]
 *                  [--report DIR] [--replay FILE]`
 * `codenet testnet down`
 *
 * P peer processes on 127.0.0.1 (testnet/launch.ts) with live progress: one bar for the run
 * with per-peer states, loss and fault counters; a line when a peer changes state and with the
 * test accuracy at each epoch; the summary table at the end. Ctrl+C / SIGTERM stop every peer.
 *
 * With no --error-rate, the testnet injects soft errors at DEFAULT_TESTNET_ERROR_RATE so that
 * detection and correction are visible in a default run (`npm start`); pass --error-rate 0 for
 * a clean run.
 *
 * `--keep` runs the launcher in the background (detached, output in the state folder's
 * launcher.log) and returns once the peers train; it stays up after training so
 * `codenet status`, `codenet fault` and the dashboard keep working, until `codenet testnet down`.
 */
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import type { Command, CommandContext } from '../cli.ts'
import { DEFAULT_SOFT_ERROR_RATE, describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, TRAINING_FLAG_NAMES, trainingConfigFromFlags } from '../../training/config.ts'
import { createProgressReporter } from '../progress.ts'
import { dataProgress } from '../data-progress.ts'
import { exportWeights, readWeightsFile, weightsFormatOf, writeWeightsFile } from '../../training/evaluate.ts'
import { Testnet, BIN, LaunchError, defaultProcesses } from '../launch.ts'
import { processAlive, readState, testnetPaths, TestnetStateError, type TestnetPaths } from '../state.ts'
import { readHistory, type HistoryEntry } from '../fault-history.ts'
import { ConfigError, type TrainingConfig } from '../../training/config.ts'
import { FAULT_FLAG_OPTIONS, faultPlanFromFlags, rawFaultFlags, refuseOnTestnet, type RawFaultFlags } from '../../training/network-flags.ts'
import { FAULT_SITES, type FaultSite } from '../../training/soft-errors.ts'
import { FaultUsageError } from '../fault-params.ts'
import type { TestnetSummary, PeerRow, MonitorView } from '../snapshot.ts'
import { traceOf } from '../snapshot.ts'

/**
 * Without --error-rate, every peer gets a `soft-error` fault at the start of training: this
 * probability per partial product (the matmul site) of a gaussian error. Those are detected and
 * corrected in the round they happen, so the default run shows correction without paying for
 * shard repairs at every step. It is recorded in history.jsonl like any fault.
 */
const SUPERVISED_ENV = 'CODENET_TESTNET_SUPERVISED'

const trainingOptions = Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }]))

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const STATE_CHAR: Record<string, string> = { online: 'o', joining: 'j', straggling: 's', faulty: 'F', offline: 'x' }

export function formatSummary (s: TestnetSummary): string {
  const f = s.faults
  const rows: Array<[string, string]> = [
    ['strategy', `${s.strategy}, ${s.peers} peers, code ${s.code.scheme} m=${s.code.m} n=${s.code.n} (Q fwd ${s.code.recoveryThreshold.forward}, bwd ${s.code.recoveryThreshold.backward})`],
    ['training', `${s.steps} steps (${s.epochs.toFixed(2)} epochs), ${s.peersFinished}/${s.peers} peers finished`],
    ['wall time', `${s.wallSeconds.toFixed(1)} s`],
    ['test accuracy', `${(100 * s.testAccuracy).toFixed(2)} %`],
    ['train loss', s.trainLoss.toFixed(4)],
    ['faults', `injected ${f.injected}, detected ${f.detected}, corrected ${f.corrected}, uncorrectable ${f.uncorrectable}`],
    ['recovery', `rollbacks ${s.rollbacks}, repairs ${s.repairs}, peer restarts ${s.restarts}, fault commands ${s.faultsInjectedByCommand}`],
    ['step time', `median ${s.timing.stepMs.median.toFixed(1)} ms, p95 ${s.timing.stepMs.p95.toFixed(1)} ms`],
    ['traffic', `${(s.bytesSent / 1e6).toFixed(1)} MB sent`]
  ]
  const w = Math.max(...rows.map(r => r[0].length))
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')
}

async function down (ctx: CommandContext, paths: TestnetPaths): Promise<number> {
  const s = readState(paths)
  if (s === null) { ctx.stderr.write(`codenet testnet down: no testnet state in ${paths.dir}\n`); return 1 }
  const peers = s.peers.map(p => p.pid).filter((p): p is number => p !== null)
  if (processAlive(s.pid) && s.pid !== process.pid) {
    process.kill(s.pid, 'SIGTERM')
    const until = Date.now() + 40_000
    while (processAlive(s.pid) && Date.now() < until) await sleep(100)
    if (processAlive(s.pid)) { ctx.stderr.write(`launcher ${s.pid} did not stop within 40 s; killing it\n`); process.kill(s.pid, 'SIGKILL') }
  }
  // The launcher stops its peers; any left (a launcher killed with -9) are stopped here.
  const left = peers.filter(processAlive)
  for (const p of left) { try { process.kill(p, 'SIGTERM') } catch {} }
  const until = Date.now() + 15_000
  while (left.some(processAlive) && Date.now() < until) await sleep(100)
  for (const p of left.filter(processAlive)) { try { process.kill(p, 'SIGKILL') } catch {} }
  ctx.stdout.write(`testnet in ${paths.dir} stopped (launcher ${s.pid}, ${peers.length} peer processes)\n`)
  return 0
}

/** `--keep`: start the launcher detached and return once the peers train. */
async function detach (ctx: CommandContext, paths: TestnetPaths): Promise<number> {
  mkdirSync(paths.dir, { recursive: true })
  const fd = openSync(paths.launcherLog, 'w')
  const child = spawn(process.execPath, [BIN, 'testnet', ...ctx.argv], { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, [SUPERVISED_ENV]: '1', CODENET_TESTNET_DIR: paths.dir } })
  closeSync(fd)
  child.unref()
  const pid = child.pid as number
  ctx.stderr.write(`testnet launcher started in the background (pid ${pid}); log ${paths.launcherLog}\n`)
  const until = Date.now() + 180_000
  for (;;) {
    await sleep(250)
    let s = null
    try { s = readState(paths) } catch {}
    if (!processAlive(pid)) { ctx.stderr.write(`codenet testnet: the launcher exited early; see ${paths.launcherLog}\n`); return 1 }
    if (s !== null && s.pid === pid && (s.phase === 'training' || s.phase === 'done')) {
      ctx.stdout.write([
        `testnet up: ${s.peers.length} peers training (launcher pid ${pid}, state ${paths.dir})`,
        ...(s.dashboardUrl !== null ? [`dashboard: ${s.dashboardUrl}`] : []),
        'next: codenet status | codenet fault <kind> --peer I | codenet testnet down',
        ''
      ].join('\n'))
      return 0
    }
    if (s !== null && s.pid === pid && s.phase === 'failed') { ctx.stderr.write(`codenet testnet: ${s.error ?? 'failed'}; see ${paths.launcherLog}\n`); return 1 }
    if (Date.now() > until) { ctx.stderr.write(`codenet testnet: peers did not start training within 180 s; see ${paths.launcherLog}; stop it with codenet testnet down\n`); return 1 }
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const paths = testnetPaths()
  if (ctx.argv[0] === 'down') {
    if (ctx.argv.length > 1) throw new UsageError(`'testnet down' takes no options, got ${ctx.argv.slice(1).join(' ')}`)
    return await down(ctx, paths)
  }
  const { values } = parseFlags(ctx.argv, {
    ...trainingOptions,
    keep: { type: 'boolean' },
    json: { type: 'string' },
    'export-weights': { type: 'string' },
    dashboard: { type: 'boolean' },
    'dashboard-port': { type: 'string' },
    report: { type: 'string' },
    replay: { type: 'string' },
    'round-timeout-ms': { type: 'string' },
    processes: { type: 'string' },
    quiet: { type: 'boolean' },
    ...FAULT_FLAG_OPTIONS
  })
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | boolean | undefined>
  for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string') raw[n] = all[n]
  const faultFlags = rawFaultFlags(values)
  const start = startFaults(faultFlags, trainingConfigFromFlags(raw, undefined, { progress: dataProgress(ctx.stderr, { quiet: values.quiet === true }) }), raw['error-rate'] !== undefined)
  const config = start.config
  let dashPort: number | undefined
  if (values['dashboard-port'] !== undefined) {
    dashPort = Number(values['dashboard-port'])
    if (!/^\d+$/.test(values['dashboard-port']) || dashPort > 65535) throw new UsageError(`--dashboard-port must be a port number, got '${values['dashboard-port']}'`)
  }
  let roundTimeoutMs: number | undefined
  if (values['round-timeout-ms'] !== undefined) {
    roundTimeoutMs = Number(values['round-timeout-ms'])
    if (!/^\d+$/.test(values['round-timeout-ms']) || roundTimeoutMs < 100) throw new UsageError(`--round-timeout-ms must be a whole number ≥ 100, got '${values['round-timeout-ms']}'`)
  }
  let processes = defaultProcesses(config.peers)
  if (values.processes !== undefined) {
    processes = Number(values.processes)
    if (!/^\d+$/.test(values.processes) || processes < 1 || processes > config.peers) throw new UsageError(`--processes must be a whole number from 1 to the peers (${config.peers}), got '${values.processes}'`)
  }
  let replay: HistoryEntry[] | undefined
  if (values.replay !== undefined) {
    if (start.given) throw new UsageError('--replay repeats a recorded run\'s faults (its start-of-training faults included): give --replay or fault flags, not both')
    if (!existsSync(values.replay)) throw new UsageError(`--replay: no such file ${values.replay}`)
    try { replay = readHistory(values.replay) } catch (err) { if (err instanceof FaultUsageError) throw new UsageError(`--replay: ${err.message}`); throw err }
  } else if (start.entries.length > 0) {
    // The default soft errors and the fault flags' commands (a replayed history already holds them).
    replay = start.entries
  }
  let existing = null
  try { existing = readState(paths) } catch (err) { if (!(err instanceof TestnetStateError)) throw err }
  const supervised = process.env[SUPERVISED_ENV] === '1'
  if (existing !== null && existing.pid !== process.pid && processAlive(existing.pid) && !['stopped', 'failed'].includes(existing.phase)) {
    throw new UsageError(`a testnet is already running in ${paths.dir} (launcher pid ${existing.pid}); stop it with \`codenet testnet down\``)
  }
  if (values.keep === true && !supervised) return await detach(ctx, paths)

  const err = ctx.stderr as NodeJS.WritableStream & { isTTY?: boolean }
  const tty = err.isTTY === true
  const quiet = values.quiet === true
  const say = (line: string): void => { if (!quiet) err.write(`${tty ? '\r\u001b[2K' : ''}[testnet] ${line}\n`) }
  const progress = quiet ? null : createProgressReporter({ stream: err, label: 'testnet', plainEvery: supervised ? 0.02 : 0.05 })
  // A state change is printed once it held for two polls (the bar shows every poll).
  let shownStates: string[] = []
  let lastStates: string[] = []
  let epochShown = 0
  let stepsPerEpoch = 0
  const onUpdate = (view: MonitorView, rows: PeerRow[]): void => {
    const states = rows.map(r => r.state)
    const training = view.totalSteps === null || view.step < view.totalSteps
    rows.forEach((r, k) => {
      if (shownStates[k] === undefined) { shownStates[k] = r.state; return }
      if (training && shownStates[k] !== r.state && lastStates[k] === r.state) {
        say(`peer ${r.index ?? `slot ${k}`}: ${shownStates[k]} → ${r.state}${r.faults.active.length > 0 ? ` [${r.faults.active.join(',')}]` : ''}`)
        shownStates[k] = r.state
      }
    })
    lastStates = states
    const lastAcc = view.accuracy[view.accuracy.length - 1]
    if (lastAcc !== undefined && stepsPerEpoch > 0 && Math.floor(lastAcc.step / stepsPerEpoch) > epochShown) {
      epochShown = Math.floor(lastAcc.step / stepsPerEpoch)
      say(`epoch ${epochShown}: test accuracy ${(100 * lastAcc.testAccuracy).toFixed(2)} % (decoded from the peers' checkpoints of step ${lastAcc.step})`)
    }
    const t = view.totals
    progress?.update({
      step: view.step,
      totalSteps: view.totalSteps ?? 0,
      loss: view.loss ?? NaN,
      rollbacks: t.rollbacks,
      repairs: t.repairs,
      note: `faults inj ${t.injected} det ${t.detected} cor ${t.corrected} unc ${t.uncorrectable}  acc ${view.testAccuracy === null ? '-' : `${(100 * view.testAccuracy).toFixed(1)}%`}  peers [${states.map(s => STATE_CHAR[s] ?? '?').join('')}]`
    })
  }
  let tn: Testnet
  try {
    tn = new Testnet({ config, paths, keep: values.keep === true, replay, roundTimeoutMs, processes, print: say, onUpdate })
  } catch (e) {
    if (e instanceof LaunchError) { ctx.stderr.write(`codenet testnet: ${e.message}\n`); return 1 }
    throw e
  }
  stepsPerEpoch = tn.state.totalSteps !== null && config.epochs !== null ? Math.round(tn.state.totalSteps / config.epochs) : 0
  let dashboard: { url: string, close: () => Promise<void> } | null = null
  let interrupted = false
  let stopRequested: (() => void) | null = null
  const stopped = new Promise<void>(resolve => { stopRequested = resolve })
  const onSignal = (sig: string): void => {
    if (interrupted) return
    interrupted = true
    say(`${sig}: stopping every peer…`)
    ;(stopRequested as unknown as () => void)()
  }
  const onInt = (): void => { onSignal('SIGINT') }
  const onTerm = (): void => { onSignal('SIGTERM') }
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  try {
    if (values.dashboard === true || dashPort !== undefined) {
      const { startDashboard } = await import('../dashboard/server.ts')
      dashboard = await startDashboard({ port: dashPort ?? 0, snapshot: () => ({ phase: tn.state.phase, peers: tn.rows, view: tn.monitor, summary: tn.finalSummary }) })
      tn.setDashboardUrl(dashboard.url)
      say(`dashboard: ${dashboard.url}`)
    }
    try {
      await tn.start()
    } catch (e) {
      if (e instanceof LaunchError) { say(e.message); await tn.stop(); return 1 }
      throw e
    }
    const summary = await Promise.race([tn.finished, stopped.then(() => null)])
    if (summary === null) {
      progress?.done()
      await tn.stop()
      tn.markStopped()
      if (interrupted) { say('stopped; every peer exited'); return 130 }
      say(`no summary: ${tn.state.error ?? 'every peer exited without one'} (logs in ${paths.dir})`)
      return 1
    }
    progress?.done()
    const detectedOutcome = `corrected ${summary.faults.corrected} of ${summary.faults.detected} detected faults (${summary.faults.injected} injected), ${summary.rollbacks} rollbacks, ${summary.repairs} repairs`
    ctx.stdout.write(`\ncodenet testnet: ${summary.peersFinished} peers trained ${summary.steps} steps in ${summary.wallSeconds.toFixed(1)} s; test accuracy ${(100 * summary.testAccuracy).toFixed(2)} %; ${detectedOutcome}\n${formatSummary(summary)}\n`)
    if (values.json !== undefined) writeOrFail(values.json, `${JSON.stringify({ ...summary, trace: traceOf(tn.monitor) }, null, 2)}\n`, 'the summary')
    if (values['export-weights'] !== undefined) {
      const src = tn.state.peers.map(p => paths.slotWeights(p.slot)).find(f => existsSync(f))
      if (src === undefined) say('no peer wrote its weights; --export-weights skipped')
      else {
        // The peers write JSON; a .safetensors destination gets the same numbers in that format.
        const dest = values['export-weights']
        try {
          if (weightsFormatOf(dest) === 'json') copyFileSync(src, dest)
          else writeWeightsFile(dest, exportWeights(readWeightsFile(src)))
        } catch (e) { throw new UsageError(`cannot write the weights to ${dest}: ${(e as Error).message}`) }
      }
    }
    if (values.report !== undefined) {
      const { writeReport } = await import('../report.ts')
      const files = writeReport(values.report, { summary, view: tn.monitor, history: readHistory(paths.history), rows: tn.rows })
      say(`report: ${files.join(', ')}`)
    }
    if (values.keep === true && !interrupted) {
      say('training done; the testnet stays up (codenet testnet down stops it)')
      await stopped
    }
    await tn.stop()
    tn.markStopped()
    // A fault the run asked for and did not get must not pass unnoticed (the run's point).
    let failed = false
    for (const u of tn.undelivered) { ctx.stderr.write(`codenet testnet: a start-of-training fault was not delivered: ${u}\n`); failed = true }
    const askedSoftErrors = config.errorRate > 0 || (replay ?? []).some(e => e.kind === 'soft-error')
    if (askedSoftErrors && summary.faults.injected === 0) { ctx.stderr.write('codenet testnet: soft errors were requested but none was injected: the fault injection did not arm\n'); failed = true }
    return failed ? 1 : 0
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
    await dashboard?.close().catch(() => {})
  }
}

const startEntry = (target: number | 'all', kind: HistoryEntry['kind'], seed: number, params: HistoryEntry['params']): HistoryEntry => ({
  at: 0, sinceStartMs: 0, step: 0, target, kind, seed, delivered: [], errors: {}, params
})

/** The peer indices of the halves split of `codenet fault partition` without --from/--to. */
function isHalves (groups: ReadonlyArray<readonly number[]>, peers: number): boolean {
  const side = new Array<number>(peers).fill(groups.length)
  groups.forEach((g, i) => { for (const p of g) side[p] = i })
  const half = Math.ceil(peers / 2)
  for (let p = 0; p < peers; p++) if ((side[p] === side[0]) !== (p < half)) return false
  return new Set(side).size === 2
}

/**
 * The fault flags a real testnet honours, as fault commands sent to the peers when training
 * starts (the way the default soft errors are sent): recorded in history.jsonl like any fault,
 * so --replay repeats them. The flags a TCP transport cannot honour are refused with one line.
 *
 *   soft errors      without --error-rate: rate DEFAULT_SOFT_ERROR_RATE at --fault-site (matmul);
 *                    with --error-rate ε and --fault-site S: the job's own rate is 0 and every peer
 *                    gets `soft-error --rate ε --site S` instead (a peer holds one site)
 *   --straggler      `straggler --delay-ms MS` to that peer
 *   --partition      only the halves split, from the start for the whole run: `partition` to all
 *   --byzantine-peers `byzantine --magnitude σ` to each (K: drawn from --seed, as simulate does)
 *   --lying-voters   `soft-error --rate 1 --site verdict` to each: every vote it casts lies (it
 *                    replaces that peer's start-of-training soft errors)
 */
export function startFaults (flags: RawFaultFlags, config: TrainingConfig, errorRateGiven: boolean): { config: TrainingConfig, entries: HistoryEntry[], given: boolean } {
  refuseOnTestnet(flags)
  const P = config.peers
  const sites = flags['fault-site'] ?? []
  for (const s of sites) if (!(FAULT_SITES as readonly string[]).includes(s)) throw new ConfigError(`--fault-site must be one of ${FAULT_SITES.join('|')}, got '${s}'`)
  if (new Set(sites).size > 1) throw new ConfigError('--fault-site: a real peer takes soft errors at one site per command; give one --fault-site on codenet testnet (several: codenet simulate)')
  const site = sites[0] as FaultSite | undefined
  const plan = faultPlanFromFlags({ ...flags, 'fault-site': undefined }, { config, totalSteps: null })
  if (plan.partitions.length > 1) throw new ConfigError('--partition: a real peer holds one partition at a time; give one --partition on codenet testnet')
  for (const p of plan.partitions) {
    if (p.fromStep !== 0 || p.toStep !== Number.POSITIVE_INFINITY) throw new ConfigError('--partition: real peers cannot follow a step schedule; on codenet testnet give GROUPS alone (from the start, for the whole run)')
    const half = Math.ceil(P / 2)
    if (!isHalves(p.groups, P)) throw new ConfigError(`--partition: real peers split only into halves on codenet testnet (${Array.from({ length: half }, (_, i) => i).join(',')}|${Array.from({ length: P - half }, (_, i) => half + i).join(',')}); other groups: codenet simulate`)
  }
  const entries: HistoryEntry[] = []
  let out = config
  if (site !== undefined && errorRateGiven) {
    if (config.errorRate === 0) throw new ConfigError('--fault-site chooses where soft errors strike: it needs --error-rate ε > 0 (or no --error-rate: the default rate)')
    if (config.errorModel === 'adversarial') throw new ConfigError('--fault-site with --error-model adversarial: soft errors commanded to real peers are independent draws; correlated errors at one site: codenet simulate')
    entries.push(startEntry('all', 'soft-error', config.seed, { rate: config.errorRate, errorKind: config.errorKind, magnitude: config.errorMagnitude, site }))
    out = { ...config, errorRate: 0 }
  } else if (!errorRateGiven) {
    entries.push(startEntry('all', 'soft-error', config.seed, { rate: DEFAULT_SOFT_ERROR_RATE, errorKind: 'gaussian', magnitude: 1, site: site ?? 'matmul' }))
  }
  const st = plan.network.stragglers as Record<number, number> | undefined
  for (const [p, ms] of Object.entries(st ?? {})) entries.push(startEntry(Number(p), 'straggler', config.seed, { delayMs: ms }))
  if (plan.partitions.length > 0) entries.push(startEntry('all', 'partition', config.seed, {}))
  for (const p of plan.byzantinePeers) entries.push(startEntry(p, 'byzantine', config.seed, { magnitude: config.errorMagnitude }))
  for (const p of plan.lyingVoters) entries.push(startEntry(p, 'soft-error', config.seed, { rate: 1, errorKind: 'gaussian', magnitude: 1, site: 'verdict' }))
  const given = Object.values(flags).some(v => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0))
  return { config: out, entries, given }
}

function writeOrFail (path: string, text: string, what: string): void {
  try { writeFileSync(path, text) } catch (err) { throw new UsageError(`cannot write ${what} to ${path}: ${(err as Error).message}`) }
}

export const testnetCommand: Command = {
  ...describeCommand('testnet'),
  run
}
