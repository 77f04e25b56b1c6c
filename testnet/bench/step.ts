/**
 * `codenet bench step`: CPU per training step of a local testnet (P `codenet peer` processes over
 * libp2p) against `simulate` with the same options (the same P peers' work in one process over
 * the in-memory exchange), for each P of `--peers` (4, 6, 8).
 *
 * Per P, in this order, so load falls on both alike:
 *   simulate   in this process, `process.cpuUsage()` across the run / attempted steps. Every peer
 *              decodes by itself (`shareDecodes: false`), as on the testnet. simulate also moves a
 *              ground truth (an uncoded trainer on the same batches) that no peer runs: it is
 *              timed alone right after on the same number of steps and subtracted
 *   testnet    `codenet testnet … --error-rate 0 --quiet --json` in a child process and a state
 *              folder of its own (testnet/bench/testnet-run.ts); its summary's `cpu` is every
 *              peer's process CPU from the join barrier to the end (node/run-tally.ts PeerCpu)
 *
 * Reported: both CPU figures per step (all peers), testnet / simulate (target ≤ 3), and a peer's
 * step split into maths and protocol, two ways:
 *   cpu        maths = simulate's CPU per step / P (the peers' own work: GEMM, encode, decode +
 *              detect, update, agreement in memory); protocol = a testnet peer's CPU per step −
 *              that (transport, encryption, multiplexing, gossip, serialisation, the process).
 *              Both are process CPU, so load on the machine does not move them (target ≤ maths)
 *   timers     the summary's own split: maths = the trainer's compute + encode + decode timers,
 *              protocol = CPU − maths. The timers are wall clock: on a loaded machine they count
 *              time the peer waited for a core, and maths can exceed the whole CPU (then
 *              protocol is clamped to 0); `mathsOverCpu` counts the peers where that happened
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { join, resolve } from 'node:path'
import { median } from '../../codes/stats.ts'
import { trainingConfigFromFlags, type RawTrainingFlags, type TrainingConfig } from '../../training/config.ts'
import { datasetForConfig, simulate } from '../../training/simulate.ts'
import { createReferenceTrainer } from '../../training/reference.ts'
import { UsageError } from '../cli.ts'
import { summarisePeerProfiles, type PeerProfileSummary, type TreeCpuProfile } from './peer-profile.ts'
import { BenchRunError, explicitFlags, runTestnet, type TestnetRun } from './testnet-run.ts'

/** testnet CPU / simulate CPU per step at most this (issue 11). */
export const STEP_RATIO_TARGET = 3
/** A peer's protocol CPU at most this many times its maths CPU. */
export const PROTOCOL_TARGET = 1

/**
 * A short job of the default recipe (MNIST, the default model and batch: 784-256-128-10, batch 64
 * as `codenet testnet` runs it), 150 steps, no soft errors: a full run (P = 4, 6, 8) takes a few
 * minutes on a quiet machine.
 */
export const STEP_DEFAULT_FLAGS: Readonly<Record<string, string>> = { steps: '150', 'error-rate': '0' }
export const STEP_QUICK_FLAGS: Readonly<Record<string, string>> = { dataset: 'synthetic', model: '128-64-10', steps: '40', batch: '16', 'error-rate': '0' }
export const STEP_DEFAULT_PEERS = [4, 6, 8] as const

export interface StepBenchOptions {
  out: NodeJS.WritableStream
  json?: string
  /** Synthetic 128-64-10, 40 steps, P = 4 (a smoke run, not the official figure). */
  quick?: boolean
  peers?: readonly number[]
  /** Training flags (as `codenet simulate` takes them, without dashes) over the defaults; not `peers`. */
  flags?: Readonly<Record<string, string>>
  /** Profile every testnet peer (V8 --cpu-prof) into DIR/P<P>/ and summarise them together. */
  cpuProfDir?: string
  /** Per testnet run (default 30 min). */
  timeoutMs?: number
}

export interface StepBenchRow {
  peers: number
  code: { scheme: string, m: number, n: number }
  simulate: {
    attemptedSteps: number
    wallSeconds: number
    /** process CPU of the whole run / attempted steps (ground truth included). */
    cpuPerStepMs: number
    /** The ground truth alone (an uncoded trainer over the same steps), per step. */
    groundTruthPerStepMs: number
    /** cpuPerStepMs − groundTruthPerStepMs: the P peers' work, per step. */
    peersCpuPerStepMs: number
  }
  testnet: {
    peersFinished: number
    /** Median over peers. */
    attemptedSteps: number
    wallSeconds: number
    /** Σ over peers of CPU / attempted steps. */
    cpuPerStepMs: number
    stepMsMedian: number
    stepMsP95: number
    /** All peers' bytes sent / attempted steps. */
    bytesPerStep: number
    rollbacks: number
  }
  /** testnet.cpuPerStepMs / simulate.peersCpuPerStepMs. */
  ratio: number
  /** testnet / simulate with its ground truth (the brief's raw figure). */
  ratioWithGroundTruth: number
  pass: boolean
  /** One peer's step, ms of CPU. */
  perPeer: {
    cpuMs: number
    /** maths = simulate's peers' CPU / P; protocol = cpuMs − maths. */
    mathsMs: number
    protocolMs: number
    protocolOverMaths: number
    pass: boolean
    /** The summary's split (wall-clock timers; mean over peers). */
    timers: { mathsMs: number, protocolMs: number, mathsOverCpu: number }
  }
  /** Every peer's profile added up (`files`), from each one's first training step. */
  profile?: { dir: string, files: string[] } & PeerProfileSummary
}

export interface StepBenchResult extends MachineInfo {
  benchmark: 'step'
  quick: boolean
  /** The training flags both sides ran with (peers aside). */
  flags: Record<string, string>
  model: number[]
  dataset: string
  rows: StepBenchRow[]
  targets: { ratio: number, protocolOverMaths: number }
  pass: boolean
}

/** Process CPU (user + system) in ms since `u0`. */
export const cpuSince = (u0: NodeJS.CpuUsage): number => { const u = process.cpuUsage(u0); return (u.user + u.system) / 1000 }

/** "4,6,8" → [4, 6, 8]: distinct integers in 2..32, as given. */
export function parsePeerList (text: string, flag = '--peers'): number[] {
  const parts = text.split(',').map(s => s.trim())
  const ps = parts.map(Number)
  if (parts.some(s => !/^\d+$/.test(s)) || ps.some(p => p < 2 || p > 32)) throw new UsageError(`${flag} must be integers in 2..32 separated by commas (4,6,8), got '${text}'`)
  if (new Set(ps).size !== ps.length) throw new UsageError(`${flag} lists a value twice: '${text}'`)
  return ps
}

/** The configs per P, checked before anything runs (a bad flag is one line, exit 2). */
function configsFor (peers: readonly number[], flags: Record<string, string>): TrainingConfig[] {
  return peers.map(P => trainingConfigFromFlags({ ...flags, peers: String(P) } as RawTrainingFlags))
}

/** The profiles the peers `pids` wrote in `dir` (Node names them CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile). */
function profilesOf (dir: string, pids: ReadonlyArray<number | null>): string[] {
  let files: string[] = []
  try { files = readdirSync(dir).filter(f => f.endsWith('.cpuprofile')).sort() } catch { return [] }
  const ours = new Set(pids.filter((p): p is number => p !== null).map(String))
  return files.filter(f => ours.has(f.split('.')[3])).map(f => join(dir, f))
}

export async function runStepBench (opts: StepBenchOptions): Promise<StepBenchResult> {
  const out = opts.out
  const quick = opts.quick === true
  if (opts.flags?.peers !== undefined) throw new UsageError('bench step: give the peer counts with --peers 4,6,8')
  const flags: Record<string, string> = { ...(quick ? STEP_QUICK_FLAGS : STEP_DEFAULT_FLAGS), ...opts.flags }
  // --epochs replaces the default --steps.
  if (opts.flags?.epochs !== undefined && opts.flags.steps === undefined) delete flags.steps
  const peers = [...(opts.peers ?? (quick ? [4] : STEP_DEFAULT_PEERS))]
  const configs = configsFor(peers, flags)
  const started = performance.now()
  const loadStart = loadavg()[0]
  out.write(`codenet bench step: P = ${peers.join(', ')}; ${Object.entries(flags).map(([k, v]) => `--${k} ${v}`).join(' ')}${quick ? ' (quick)' : ''}; load average ${loadStart.toFixed(2)}\n`)
  const rows: StepBenchRow[] = []
  for (const [i, P] of peers.entries()) {
    const config = configs[i]
    // The data outside the measurement (the peers load theirs before the barrier, too).
    const dataset = datasetForConfig(config)

    const c0 = process.cpuUsage(); const t0 = performance.now()
    const sim = (await simulate({ config, dataset, shareDecodes: false })).summary
    const simCpuMs = cpuSince(c0)
    const simWall = (performance.now() - t0) / 1000
    const attempted = Math.max(1, sim.attemptedSteps)
    const reference = createReferenceTrainer(config, dataset)
    const c1 = process.cpuUsage()
    for (let s = 0; s < sim.attemptedSteps; s++) reference.step(s, { forward: [], backward: [] })
    const truthMs = cpuSince(c1)
    out.write(`  P=${P}: simulate ${simWall.toFixed(1)} s, ${(simCpuMs / attempted).toFixed(1)} ms CPU/step (ground truth ${(truthMs / attempted).toFixed(1)}); testnet…\n`)

    const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-step-'))
    const profDir = opts.cpuProfDir === undefined ? undefined : join(resolve(opts.cpuProfDir), `P${P}`)
    const run: TestnetRun = await runTestnet({ flags: explicitFlags(config, { ...flags, peers: String(P) }), expect: config, dir, cpuProfDir: profDir, timeoutMs: opts.timeoutMs })
    const s = run.summary
    // All peers' CPU is a sum over the peers that wrote a summary: every one must have.
    if (s.peersFinished < P) throw new BenchRunError(`P=${P}: only ${s.peersFinished} of ${P} testnet peers wrote a summary (logs in ${dir})`)
    rmSync(dir, { recursive: true, force: true })
    const tnAttempted = median(run.peers.map(p => p.attemptedSteps))
    const simPeers = Math.max(0, simCpuMs - truthMs) / attempted
    const tnCpu = s.cpu.perStepMs
    const perPeerCpu = tnCpu / s.peersFinished
    const mathsMs = simPeers / P
    const protocolMs = perPeerCpu - mathsMs
    const per = (x: number, p: typeof run.peers[number]): number => 1000 * x / Math.max(1, p.attemptedSteps)
    const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length)
    const row: StepBenchRow = {
      peers: P,
      code: { scheme: s.code.scheme, m: s.code.m, n: s.code.n },
      simulate: { attemptedSteps: sim.attemptedSteps, wallSeconds: simWall, cpuPerStepMs: simCpuMs / attempted, groundTruthPerStepMs: truthMs / attempted, peersCpuPerStepMs: simPeers },
      testnet: {
        peersFinished: s.peersFinished,
        attemptedSteps: tnAttempted,
        wallSeconds: run.wallSeconds,
        cpuPerStepMs: tnCpu,
        stepMsMedian: s.timing.stepMs.median,
        stepMsP95: s.timing.stepMs.p95,
        bytesPerStep: s.bytesSent / Math.max(1, tnAttempted),
        rollbacks: s.rollbacks
      },
      ratio: tnCpu / simPeers,
      ratioWithGroundTruth: tnCpu / (simCpuMs / attempted),
      pass: tnCpu / simPeers <= STEP_RATIO_TARGET,
      perPeer: {
        cpuMs: perPeerCpu,
        mathsMs,
        protocolMs,
        protocolOverMaths: protocolMs / mathsMs,
        pass: protocolMs <= PROTOCOL_TARGET * mathsMs,
        timers: {
          mathsMs: mean(run.peers.map(p => per(p.cpu.mathsS, p))),
          protocolMs: mean(run.peers.map(p => per(p.cpu.protocolS, p))),
          mathsOverCpu: run.peers.filter(p => p.cpu.mathsS > p.cpu.totalS).length
        }
      }
    }
    if (profDir !== undefined) {
      const files = profilesOf(profDir, run.pids)
      if (files.length === 0) out.write(`  P=${P}: no peer CPU profile in ${profDir}\n`)
      else row.profile = { dir: profDir, files, ...summarisePeerProfiles(files.map(file => JSON.parse(readFileSync(file, 'utf8')) as TreeCpuProfile)) }
    }
    rows.push(row)
    out.write(`  P=${P}: testnet ${run.wallSeconds.toFixed(1)} s, ${tnCpu.toFixed(1)} ms CPU/step (all peers), ratio ${row.ratio.toFixed(2)} (load ${loadavg()[0].toFixed(2)})\n`)
  }
  const c = configs[0]
  const result: StepBenchResult = {
    benchmark: 'step',
    quick,
    flags,
    model: [...c.model],
    dataset: c.dataset,
    rows,
    targets: { ratio: STEP_RATIO_TARGET, protocolOverMaths: PROTOCOL_TARGET },
    pass: rows.every(r => r.pass && r.perPeer.pass),
    ...machineInfo(loadStart, started)
  }
  out.write(formatStepTable(result))
  if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`)
  return result
}

const f = (x: number | null | undefined, digits = 1): string => x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits)

/** The human-readable table of a result. */
export function formatStepTable (res: StepBenchResult): string {
  const header = ['P', 'code', 'simulate ms', 'testnet ms', 'ratio', `≤ ${res.targets.ratio}`, 'maths ms', 'protocol ms', 'prot/maths', `≤ ${res.targets.protocolOverMaths}`, 'timers: maths', 'protocol', 'step ms', 'KB/step']
  const table = res.rows.map(r => [
    String(r.peers), `${r.code.m}×${r.code.n}`, f(r.simulate.peersCpuPerStepMs), f(r.testnet.cpuPerStepMs), f(r.ratio, 2), r.pass ? 'PASS' : 'FAIL',
    f(r.perPeer.mathsMs), f(r.perPeer.protocolMs), f(r.perPeer.protocolOverMaths, 2), r.perPeer.pass ? 'PASS' : 'FAIL',
    `${f(r.perPeer.timers.mathsMs)}${r.perPeer.timers.mathsOverCpu > 0 ? '*' : ''}`, f(r.perPeer.timers.protocolMs), f(r.testnet.stepMsMedian), f(r.testnet.bytesPerStep / 1000, 0)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map(row => row[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c === 1 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ').trimEnd()
  const lines = [
    '',
    `CPU per step, ${res.model.join('-')} on ${res.dataset}: simulate (all peers in one process, ground truth removed) vs testnet (all peer processes); a peer's step split into maths and protocol`,
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...table.map(line),
    '',
    'simulate/testnet ms: CPU of all P peers per step; maths = simulate / P, protocol = a testnet peer\'s CPU − maths; timers: the peers\' summary split (wall-clock maths timers, mean over peers)',
    'step ms: median step wall time on the testnet; KB/step: bytes all peers sent per step'
  ]
  if (res.rows.some(r => r.perPeer.timers.mathsOverCpu > 0)) lines.push('* the maths timers exceeded the process CPU on some peers (they count time waiting for a core): that split is unreliable under this load')
  for (const r of res.rows) {
    const p = r.profile
    if (p === undefined) continue
    lines.push('', `P=${r.peers}: CPU profiles of ${p.files.length} peer processes added up, each from its first training step (${p.dir}; ${f(p.startupMs / 1000)} s of startup before it left out): ${f(p.totalMs - p.idleMs, 0)} ms busy of ${f(p.totalMs, 0)} ms; maths ${f(100 * p.mathsShare)} % of the busy time outside data loading`)
    lines.push('  ' + p.groups.map(g => `${g.group} ${f(g.selfPercent)} %`).join(', '))
    for (const e of p.top.slice(0, 12)) lines.push(`  ${f(e.selfPercent).padStart(5)} %  ${f(e.selfMs, 0).padStart(6)} ms  ${e.function}  ${e.location}  [${e.group}]`)
  }
  lines.push(`targets (testnet/simulate ≤ ${res.targets.ratio}, protocol ≤ maths): ${res.pass ? 'PASS' : 'FAIL'}`)
  lines.push(machineLine(res))
  return lines.join('\n') + '\n'
}
