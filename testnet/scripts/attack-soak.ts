/**
 * The attack soak of issue 10: two jobs of 6 real `codenet peer` processes each on 127.0.0.1,
 * the same training flags and seed, run at the same time (machine load hits both alike); one
 * quiet, one attacked for its whole run by
 *
 *   a verdict storm  one member started with `--fault-rate 1 --fault-site verdict`: every vote
 *                    it casts (per step and per audit) claims the opposite of what its decoders
 *                    found and accuses an innocent peer (training/trainer/step.ts lieIfFaulty,
 *                    audit.ts); the quorum rule (agree.ts) must outvote it
 *   a frame flood    an outsider host streaming garbage and well-formed-looking result frames
 *                    at every member's result protocol, and
 *   hello sybils     6 outsider ids publishing well-formed hellos every 100 ms
 *                    (both in a child process: attack-soak-attackers.ts).
 *
 * Every `--sample-s` seconds it reads each peer's RSS (/proc/PID/status VmRSS) and its full
 * status (as the peers' controller). At the end: per peer, median and max RSS quiet vs attacked
 * and their ratio (honest peers: ≤ 1.2), whether both jobs completed, every exit code, and the
 * largest |Δ| between the attacked job's honest peers' decoded weights and the quiet job's
 * (≤ 1e-9: same seed and config, every fault absorbed → the same model).
 *
 * The job: synthetic data, 64-64-64-8, batch 32, lr 0.05 without momentum (see jobFlags),
 * checkpoints every 50 steps. Synthetic, not
 * MNIST: no dataset to load in each of 12 processes (MNIST's arrays would dominate each peer's
 * baseline RSS and hide what the attack adds), and small enough that a step is mostly
 * protocol (rounds, votes, audits) rather than GEMM, so the attack meets many rounds. Its
 * length: `--steps S`, or sized from a calibration run of the same two jobs under the same
 * attack (`--calibration-steps`, 60) so that training lasts about `--minutes`.
 *
 *   node_modules/.bin/node testnet/scripts/attack-soak.ts [--minutes 20] [--steps S] [--json FILE]
 *        [--seed 7] [--sample-s 10] [--calibration-steps 60] [--mbps 2] [--stall-minutes 8]
 *        [--attacks liar,flood,sybils]
 *
 * `--attacks` picks which attacks the attacked job gets (default all three: to tell their
 * effects apart). A job that makes fewer than 30 steps in `--stall-minutes` is stopped and
 * reported as stalled (logs kept). The machine's load average is sampled with the RSS: the
 * two jobs share it, but a machine loaded far beyond its cores slows both.
 *
 * Prints the table on stdout (progress on stderr); exit 0 when every check holds, 1 otherwise.
 * Each peer's log, summary and weights stay in the printed temp folder.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { generateControlKey, saveControlKey } from '../../node/control-auth.ts'
import type { PeerStatus } from '../../protocols/status.ts'
import {
  NODE, ROOT, StatusClient, killChildren, readJsonOrNull, rssOf, simulateWeights, startPeer, track, weightsDistance, writeJob, type Peer
} from './attack-soak-peers.ts'

const PEERS = 6
/** The lying voter's name in the attacked job (not the bootstrap peer, which everyone dials first). */
const LIAR = `p${PEERS - 1}`
const RSS_RATIO = 1.2
const WEIGHTS_TOLERANCE = 1e-9
/** Fewer steps than this in `--stall-minutes`: the job is stuck (a healthy job here makes hundreds). */
const STALL_STEPS = 30

function usage (msg: string): never {
  process.stderr.write(`attack-soak: ${msg}\n`)
  process.exit(2)
}

const OPTIONS = {
  minutes: { type: 'string', default: '20' },
  steps: { type: 'string' },
  json: { type: 'string' },
  seed: { type: 'string', default: '7' },
  'sample-s': { type: 'string', default: '10' },
  'calibration-steps': { type: 'string', default: '60' },
  'stall-minutes': { type: 'string', default: '8' },
  mbps: { type: 'string', default: '2' },
  attacks: { type: 'string', default: 'liar,flood,sybils' }
} as const
function flags (): ReturnType<typeof parseArgs<{ options: typeof OPTIONS, strict: true, allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) { return usage((err as Error).message) }
}
const values = flags()
const num = (name: string, v: string, min: number, int = false): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || (int && !Number.isInteger(n))) usage(`--${name} must be ${int ? 'an integer' : 'a number'} ≥ ${min}, got '${v}'`)
  return n
}
const minutes = num('minutes', values.minutes, 0.1)
const fixedSteps = values.steps !== undefined ? num('steps', values.steps, 1, true) : null
const seed = num('seed', values.seed, 0, true)
const sampleMs = 1000 * num('sample-s', values['sample-s'], 1)
const calibrationSteps = num('calibration-steps', values['calibration-steps'], 20, true)
const mbps = num('mbps', values.mbps, 0)
const stallMs = 60_000 * num('stall-minutes', values['stall-minutes'], 0.5)
const ATTACKS = ['liar', 'flood', 'sybils'] as const
const attacks = new Set(values.attacks.split(',').filter(a => a !== ''))
for (const a of attacks) if (!(ATTACKS as readonly string[]).includes(a)) usage(`--attacks takes ${ATTACKS.join(',')} (any of them, to tell their effects apart), got '${a}'`)

// lr 0.05 without momentum: a job whose training does not amplify float rounding. Peers decode
// from whichever results came first, so two runs differ at 1e-16 per step; at the default lr 0.3
// and momentum 0.7 training amplifies that (simulate of this job with and without a 5 ms
// straggler: 9e-16 apart after 150 steps, 1.5e-13 after 600, 2e-5 after 1,500, O(1) after
// 3,749), and "the attacked job decoded the quiet job's model within 1e-9" would measure chaos,
// not the attack. Here the two simulate runs stay 1e-15 apart after 3,749 steps.
const jobFlags = (steps: number): string[] => ['--peers', String(PEERS), '--dataset', 'synthetic', '--model', '64-64-64-8', '--batch', '32',
  '--lr', '0.05', '--momentum', '0', '--checkpoint-every', '50', '--seed', String(seed), '--steps', String(steps)]

const t0 = Date.now()
const root = mkdtempSync(join(tmpdir(), 'codenet-attack-soak-'))
const control = generateControlKey()
saveControlKey(control, join(root, 'control.pem'), join(root, 'control.pub.pem'))
const controlArgs = ['--control-key', join(root, 'control.pub.pem')]

// Every child dies with the script, however it ends.
process.on('exit', killChildren)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => { killChildren(); process.stderr.write(`attack-soak: ${sig}, every process stopped; logs kept in ${root}\n`); process.exit(130) })
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const median = (xs: number[]): number => { if (xs.length === 0) return NaN; const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2 }
const log = (line: string): void => { process.stderr.write(`${line}\n`) }
const elapsed = (t0: number): number => Math.round((Date.now() - t0) / 1000)

type JobName = 'quiet' | 'attacked'
interface PeerRun {
  peer: Peer
  jobName: JobName
  role: 'honest' | 'liar'
  rss: number[]
  hwm: number
  exitedAt: number | null
  status: PeerStatus | null
}
interface PairRun {
  steps: number
  peers: PeerRun[]
  /** (seconds since start, the job's step: lower median of its live peers) per sample. */
  progress: Record<JobName, Array<[number, number]>>
  finishedAt: Record<JobName, number | null>
  /** The step a job was stuck at when it made fewer than STALL_STEPS in `--stall-minutes` (its peers were then stopped). */
  stalledAt: Record<JobName, number | null>
  /** The machine's 1-minute load average per sample: what else ran (the machine is shared). */
  load: number[]
  timedOut: boolean
  attackers: Record<string, any> | null
  attackerLog: string
  seconds: number
  dir: string
}

/** Both jobs, started together, until every peer exited or `deadlineMs`. */
async function runPair (dir: string, steps: number, deadlineMs: number, everyMs: number, stallMs: number): Promise<PairRun> {
  const jobs = { quiet: writeJob(join(dir, 'quiet'), jobFlags(steps)), attacked: writeJob(join(dir, 'attacked'), jobFlags(steps)) }
  const t0 = Date.now()
  const runs: PeerRun[] = []
  const add = (peer: Peer, jobName: JobName): PeerRun => {
    const r: PeerRun = { peer, jobName, role: jobName === 'attacked' && peer.name === LIAR && attacks.has('liar') ? 'liar' : 'honest', rss: [], hwm: 0, exitedAt: null, status: null }
    void peer.exit.then(() => { r.exitedAt = (Date.now() - t0) / 1000 })
    runs.push(r)
    return r
  }
  // The bootstrap peers first, then the others of both jobs interleaved.
  const boots = { quiet: add(await startPeer('p0', jobs.quiet, controlArgs), 'quiet'), attacked: add(await startPeer('p0', jobs.attacked, controlArgs), 'attacked') }
  const bootAddr = { quiet: await boots.quiet.peer.address, attacked: await boots.attacked.peer.address }
  for (let i = 1; i < PEERS; i++) {
    for (const j of ['quiet', 'attacked'] as const) {
      const lie = j === 'attacked' && `p${i}` === LIAR && attacks.has('liar') ? ['--fault-rate', '1', '--fault-site', 'verdict'] : []
      add(await startPeer(`p${i}`, jobs[j], [...controlArgs, '--bootstrap', bootAddr[j], ...lie]), j)
    }
  }
  const addresses = new Map<PeerRun, string>()
  for (const r of runs) addresses.set(r, await r.peer.address)

  // The outsiders, once they know where the attacked job's members listen (before its barrier closes).
  const attackerLog = join(dir, 'attackers.log')
  const targets = runs.filter(r => r.jobName === 'attacked').map(r => addresses.get(r) ?? '')
  const outsiders = attacks.has('flood') || attacks.has('sybils')
  const attackers = outsiders
    ? track(spawn(NODE, [join(ROOT, 'testnet', 'scripts', 'attack-soak-attackers.ts'), '--job', jobs.attacked.path, '--targets', targets.join(','),
      '--sybils', attacks.has('sybils') ? '6' : '0', '--period-ms', '100', '--mbps', attacks.has('flood') ? String(mbps) : '0',
      '--report-s', String(Math.max(1, Math.round(everyMs / 1000)))], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
    : null
  let attackerState: Record<string, any> | null = null
  const attackerLines: string[] = []
  const attackerErr: string[] = []
  if (attackers !== null) {
    createInterface({ input: attackers.stdout! }).on('line', l => {
      attackerLines.push(l)
      try { attackerState = JSON.parse(l) } catch {}
    })
    attackers.stderr?.on('data', (d: Buffer) => { attackerErr.push(d.toString()) })
  }
  const attackersExit = new Promise<void>(resolve => { if (attackers === null) resolve(); else attackers.once('exit', () => { resolve() }) })

  const statuses = await StatusClient.start(control.privateKey)
  const progress: PairRun['progress'] = { quiet: [], attacked: [] }
  const finishedAt: PairRun['finishedAt'] = { quiet: null, attacked: null }
  const stalledAt: PairRun['stalledAt'] = { quiet: null, attacked: null }
  const load: number[] = []
  let timedOut = false
  let attackersStopped = false
  try {
    for (;;) {
      const t = (Date.now() - t0) / 1000
      load.push(loadavg()[0])
      const live = runs.filter(r => r.peer.exitCode === null)
      for (const r of live) {
        const m = rssOf(r.peer.pid)
        if (m !== null) { r.rss.push(m.rss); r.hwm = Math.max(r.hwm, m.hwm) }
      }
      await Promise.all(live.map(async r => {
        const st = await statuses.status(addresses.get(r) ?? '')
        if (st !== null) r.status = st
      }))
      for (const j of ['quiet', 'attacked'] as const) {
        const mine = runs.filter(r => r.jobName === j)
        if (finishedAt[j] === null && mine.every(r => r.peer.exitCode !== null)) finishedAt[j] = t
        const liveSteps = mine.filter(r => r.peer.exitCode === null).map(r => Math.max(r.status?.step ?? 0, r.peer.progress))
        // The job's step: the lower median of its live peers (as the status does; one peer behind is not the job).
        if (liveSteps.length > 0) progress[j].push([t, liveSteps.sort((x, y) => x - y)[(liveSteps.length - 1) >> 1]])
        // Stuck: the job's step advanced fewer than STALL_STEPS in the last stallMs (e.g. its
        // peers rolling back and resyncing in a loop, creeping a step now and then). The peers
        // would end themselves only after 50 rollbacks in a row (StalledError, up to 15 s
        // each); stop them sooner, keeping their logs and last status.
        const then = progress[j].findLast(([ts]) => (t - ts) * 1000 >= stallMs)
        const now = progress[j].at(-1)
        if (finishedAt[j] === null && stalledAt[j] === null && then !== undefined && now !== undefined && now[1] - then[1] < STALL_STEPS) {
          stalledAt[j] = now[1]
          log(`${j} job stalled: from step ${then[1]} to ${now[1]} in ${((t - then[0]) / 60).toFixed(1)} min; stopping it (logs in ${mine[0].peer.job.dir})`)
          for (const r of mine) if (r.peer.exitCode === null) r.peer.child.kill('SIGKILL')
        }
      }
      // The attack lasts as long as the attacked job does.
      if (finishedAt.attacked !== null && !attackersStopped) { attackersStopped = true; attackers?.kill('SIGTERM') }
      const line = (j: JobName): string => {
        const mine = runs.filter(r => r.jobName === j)
        const rss = mine.filter(r => r.peer.exitCode === null).map(r => r.rss.at(-1) ?? NaN)
        return finishedAt[j] !== null
          ? `${j} ${stalledAt[j] !== null ? `stalled at ${stalledAt[j]}` : 'done'} (exits ${mine.map(r => r.peer.exitCode).join(',')})`
          : `${j} step ${progress[j].at(-1)?.[1] ?? 0}/${steps} RSS ${rss.map(x => x.toFixed(0)).join('/')} MB`
      }
      const a = attackerState as any
      const flood = a?.flood !== undefined ? `; flood ${(a.flood.bytes / 1e6).toFixed(0)} MB in ${a.flood.opened} streams, ${a.hellos} sybil hellos` : ''
      log(`[${elapsed(t0)} s, load ${load.at(-1)?.toFixed(1)}] ${line('quiet')} | ${line('attacked')}${flood}`)
      if (finishedAt.quiet !== null && finishedAt.attacked !== null) break
      if (Date.now() - t0 > deadlineMs) { timedOut = true; break }
      await sleep(everyMs)
    }
  } finally {
    await statuses.stop()
  }
  if (timedOut) {
    log(`deadline of ${(deadlineMs / 60_000).toFixed(0)} min reached: stopping the peers still running`)
    for (const r of runs) if (r.peer.exitCode === null) r.peer.child.kill('SIGKILL')
    await Promise.all(runs.map(async r => await r.peer.exit))
  }
  if (!attackersStopped) attackers?.kill('SIGTERM')
  await Promise.race([attackersExit, sleep(10_000)])
  if (attackers !== null && attackers.exitCode === null) attackers.kill('SIGKILL')
  if (attackers !== null) writeFileSync(attackerLog, attackerLines.join('\n') + '\n' + attackerErr.join(''))
  return { steps, peers: runs, progress, finishedAt, stalledAt, load, timedOut, attackers: attackerState, attackerLog, seconds: (Date.now() - t0) / 1000, dir }
}

/** Steps a second of a job once it trains (from the first sample at step ≥ 10 to its end). */
function stepRate (run: PairRun, j: JobName): number {
  const p = run.progress[j]
  const start = p.find(([, s]) => s >= 10)
  const end = run.finishedAt[j]
  if (start === undefined || end === null || end <= start[0]) {
    const walls = run.peers.filter(r => r.jobName === j).map(r => readJsonOrNull(r.peer.summaryPath)?.wallSeconds as number | undefined).filter((x): x is number => x !== undefined)
    return walls.length > 0 ? run.steps / median(walls) : NaN
  }
  return (run.steps - start[1]) / (end - start[0])
}

// ---- results ----
type Calibration = { steps: number, rate: Record<JobName, number>, seconds: number } | null

/** The table (stdout) and --json of one run; true when every check holds. */
function report (run: PairRun, label: string, calibration: Calibration): boolean {
  const summaryOf = (r: PeerRun): any => readJsonOrNull(r.peer.summaryPath)
  const weightsOf = (r: PeerRun): any => readJsonOrNull(r.peer.weightsPath)
  const byJob = (j: JobName): PeerRun[] => run.peers.filter(r => r.jobName === j)
  const jobReport = (j: JobName): Record<string, unknown> => {
    const mine = byJob(j)
    const sums = mine.map(summaryOf)
    return {
      stalledAt: run.stalledAt[j],
      completed: !run.timedOut && run.stalledAt[j] === null && mine.every(r => r.peer.exitCode === 0) && sums.every(s => s?.steps === run.steps),
      exitCodes: Object.fromEntries(mine.map(r => [r.peer.name, r.peer.exitCode])),
      finishedAfterSeconds: run.finishedAt[j],
      stepsPerSecond: stepRate(run, j),
      testAccuracy: sums.map(s => s?.testAccuracy ?? null),
      // Per peer: the liar's own rollbacks and resyncs are its business; the honest peers' are the job's.
      rollbacks: Object.fromEntries(mine.map((r, i) => [r.peer.name, sums[i]?.rollbacks ?? null])),
      repairs: Object.fromEntries(mine.map((r, i) => [r.peer.name, sums[i]?.repairs ?? null])),
      rejoins: Object.fromEntries(mine.map((r, i) => [r.peer.name, sums[i]?.rejoins ?? null])),
      uncorrectable: Object.fromEntries(mine.map((r, i) => [r.peer.name, sums[i]?.faults?.uncorrectable ?? null])),
      verdictDisagreements: Object.fromEntries(mine.map((r, i) => [r.peer.name, sums[i]?.verdictDisagreements ?? r.status?.verdictDisagreements ?? null])),
      notAMember: Object.fromEntries(mine.map(r => [r.peer.name, r.status?.frames.dropReasons['not-a-member'] ?? 0])),
      // The last status each peer answered (its position, and why it dropped frames): the post-mortem of a stall.
      lastStatus: Object.fromEntries(mine.map(r => [r.peer.name, r.status === null ? null : {
        phase: r.status.phase, step: r.status.step, attempt: r.status.attempt, rollbacks: r.status.rollbacks, rejoins: r.status.rejoins, dropReasons: r.status.frames.dropReasons
      }])),
      errorLines: Object.fromEntries(mine.filter(r => r.peer.errorLines.length > 0).map(r => [r.peer.name, r.peer.errorLines]))
    }
  }
  const quiet = jobReport('quiet')
  const attacked = jobReport('attacked')

  interface RssRow { peer: string, role: string, quiet: { median: number, max: number, hwm: number }, attacked: { median: number, max: number, hwm: number }, ratioMedian: number, ratioMax: number }
  const rssRows: RssRow[] = []
  for (let i = 0; i < PEERS; i++) {
    const q = byJob('quiet')[i]; const a = byJob('attacked')[i]
    const stat = (r: PeerRun): RssRow['quiet'] => ({ median: median(r.rss), max: Math.max(...r.rss), hwm: r.hwm })
    const qs = stat(q); const as = stat(a)
    rssRows.push({ peer: a.peer.name, role: a.role, quiet: qs, attacked: as, ratioMedian: as.median / qs.median, ratioMax: as.max / qs.max })
  }

  // The decoded models: every honest attacked peer against the quiet job's p0, and each job's spread.
  const ref = weightsOf(byJob('quiet')[0])
  const dist = (r: PeerRun): number | null => { const w = weightsOf(r); return w === null || ref === null ? null : weightsDistance(ref, w) }
  const liar = byJob('attacked').find(r => r.role === 'liar')
  // Both jobs against `codenet simulate` of the same flags: how far a real network's run drifts
  // from the seed's model anyway (float rounding of decodes from different result subsets,
  // rebuilt shards after repairs and rollbacks, amplified by training), attack or not.
  const sim = simulateWeights(run.dir, jobFlags(run.steps))
  const toSim = (rs: PeerRun[]): number | null => {
    const ds = rs.map(r => { const w = weightsOf(r); return w === null || sim === null ? null : weightsDistance(sim, w) })
    return ds.some(d => d === null) ? null : Math.max(...(ds as number[]))
  }
  const weights = {
    honestVsQuiet: Object.fromEntries(byJob('attacked').filter(r => r.role === 'honest').map(r => [r.peer.name, dist(r)])),
    liarVsQuiet: liar === undefined ? null : dist(liar),
    quietSpread: Math.max(0, ...byJob('quiet').map(r => dist(r) ?? Infinity)),
    quietVsSimulate: toSim(byJob('quiet')),
    honestVsSimulate: toSim(byJob('attacked').filter(r => r.role === 'honest'))
  }
  const honestDistances = Object.values(weights.honestVsQuiet)
  const maxHonestDelta = honestDistances.some(d => d === null) ? null : Math.max(...(honestDistances as number[]))

  const checks = {
    bothCompleted: quiet.completed === true && attacked.completed === true,
    honestRssWithin: rssRows.filter(r => r.role === 'honest').every(r => r.ratioMedian <= RSS_RATIO && r.ratioMax <= RSS_RATIO),
    weightsEqual: maxHonestDelta !== null && maxHonestDelta <= WEIGHTS_TOLERANCE,
    noErrorLines: Object.keys(attacked.errorLines as object).length === 0 && Object.keys(quiet.errorLines as object).length === 0
  }

  const mb = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : '—'
  const rt = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : '—'
  const a = run.attackers as any
  const lines = [
    `attack soak: ${PEERS} peers per job, synthetic 64-64-64-8, batch 32, lr 0.05, momentum 0, seed ${seed}, ${run.steps} steps${label}; quiet and attacked jobs at the same time; ${(run.seconds / 60).toFixed(1)} min, ` +
      `machine load (1-min average, 2 cores) median ${median(run.load).toFixed(1)}, max ${Math.max(...run.load).toFixed(1)}` +
      (calibration !== null ? ` (steps sized from a ${calibration.steps}-step calibration: quiet ${calibration.rate.quiet.toFixed(2)}, attacked ${calibration.rate.attacked.toFixed(2)} steps/s)` : ''),
    `attack: ${[
      attacks.has('liar') ? `${LIAR} lies in every vote (--fault-rate 1 --fault-site verdict)` : 'no lying voter',
      attacks.has('flood') ? (a?.flood !== undefined ? `frame flood: ${(a.flood.bytes / 1e6).toFixed(0)} MB written in ${a.flood.opened} result streams (${a.flood.openFailed} opens failed)` : 'frame flood (no report)') : 'no frame flood',
      attacks.has('sybils') ? `${a?.hellos ?? '?'} hellos from 6 sybils` : 'no sybils'
    ].join('; ')}; RSS sampled every ${sampleMs / 1000} s`,
    '',
    '| peer | role | quiet RSS median / max (MB) | attacked RSS median / max (MB) | attacked / quiet, median | max | peak (VmHWM) q / a | exit q / a | verdict disagreements | not-a-member drops |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rssRows.map(r => `| ${r.peer} | ${r.role} | ${mb(r.quiet.median)} / ${mb(r.quiet.max)} | ${mb(r.attacked.median)} / ${mb(r.attacked.max)} | ${rt(r.ratioMedian)} | ${rt(r.ratioMax)} | ${mb(r.quiet.hwm)} / ${mb(r.attacked.hwm)} | ` +
      `${(quiet.exitCodes as any)[r.peer]} / ${(attacked.exitCodes as any)[r.peer]} | ${(attacked.verdictDisagreements as any)[r.peer] ?? '—'} | ${(attacked.notAMember as any)[r.peer]} |`),
    '',
    `| job | completed | steps/s | finished after (s) | rollbacks, honest peers (liar) | repairs | rejoins, honest (liar) | uncorrectable | test accuracy |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...(['quiet', 'attacked'] as const).map(j => {
      const r = j === 'quiet' ? quiet : attacked
      const acc = (r.testAccuracy as Array<number | null>).filter((x): x is number => x !== null)
      const split = (k: 'rollbacks' | 'rejoins' | 'repairs' | 'uncorrectable'): string => {
        const v = r[k] as Record<string, number | null>
        const honest = Math.max(0, ...Object.entries(v).filter(([n]) => j === 'quiet' || n !== LIAR).map(([, x]) => x ?? 0))
        return j === 'attacked' && k !== 'repairs' ? `${honest} (${v[LIAR] ?? '—'})` : String(honest)
      }
      return `| ${j} | ${r.completed ? 'yes' : r.stalledAt !== null ? `**no: stalled at step ${r.stalledAt as number}**` : '**no**'} | ${rt(r.stepsPerSecond as number)} | ${r.finishedAfterSeconds === null ? '—' : (r.finishedAfterSeconds as number).toFixed(0)} | ` +
        `${split('rollbacks')} | ${split('repairs')} | ${split('rejoins')} | ${split('uncorrectable')} | ${acc.length > 0 ? `${(100 * median(acc)).toFixed(2)} %` : '—'} |`
    }),
    '',
    `decoded weights, max |Δ| to the quiet job's p0: honest attacked peers ${maxHonestDelta === null ? '— (missing)' : maxHonestDelta.toExponential(2)}, ` +
      `the liar ${weights.liarVsQuiet === null ? '—' : weights.liarVsQuiet.toExponential(2)}, within the quiet job ${weights.quietSpread.toExponential(2)}; ` +
      `to \`codenet simulate\` of the same flags: quiet ${weights.quietVsSimulate?.toExponential(2) ?? '—'}, honest attacked ${weights.honestVsSimulate?.toExponential(2) ?? '—'}`,
    `checks: both completed ${checks.bothCompleted ? 'yes' : 'NO'}; honest RSS ≤ ${RSS_RATIO} × quiet ${checks.honestRssWithin ? 'yes' : 'NO'}; ` +
      `weights |Δ| ≤ ${WEIGHTS_TOLERANCE} ${checks.weightsEqual ? 'yes' : 'NO'}; no error lines in peer logs ${checks.noErrorLines ? 'yes' : 'NO'}`,
    `logs, summaries and weights: ${root}`,
    ''
  ]
  process.stdout.write(lines.join('\n'))
  for (const j of ['quiet', 'attacked'] as const) {
    const e = (j === 'quiet' ? quiet : attacked).errorLines as Record<string, string[]>
    for (const [name, ls] of Object.entries(e)) process.stdout.write(`${j}/${name}: ${ls.slice(0, 5).join(' ⏎ ')}\n`)
  }
  if (values.json !== undefined) {
    writeFileSync(values.json, `${JSON.stringify({
      peers: PEERS, seed, minutes, steps: run.steps, run: label.trim(), attacks: [...attacks], jobFlags: jobFlags(run.steps), sampleSeconds: sampleMs / 1000, calibration, wallSeconds: (Date.now() - t0) / 1000,
      load: run.load, rss: rssRows, jobs: { quiet, attacked }, weights: { ...weights, maxHonestDelta }, attackers: run.attackers, checks, dir: root,
      samples: Object.fromEntries(run.peers.map(r => [`${r.jobName}/${r.peer.name}`, r.rss]))
    }, null, 2)}\n`)
  }
  return Object.values(checks).every(Boolean)
}

async function main (): Promise<number> {
  log(`attack soak: ${PEERS} + ${PEERS} peers, ${minutes} min; logs in ${root}`)
  let steps: number
  let calibration: Calibration = null
  if (fixedSteps !== null) {
    steps = fixedSteps
  } else {
    log(`calibration: both jobs under the same attack, ${calibrationSteps} steps`)
    const c = await runPair(join(root, 'calibration'), calibrationSteps, 15 * 60_000, 3000, stallMs)
    const rate = { quiet: stepRate(c, 'quiet'), attacked: stepRate(c, 'attacked') }
    const slowest = Math.min(rate.quiet, rate.attacked)
    if (c.timedOut || c.stalledAt.quiet !== null || c.stalledAt.attacked !== null || !Number.isFinite(slowest) || slowest <= 0) {
      log(`calibration did not complete (exits ${c.peers.map(r => `${r.jobName}/${r.peer.name} ${r.peer.exitCode}`).join(', ')}); logs in ${join(root, 'calibration')}`)
      report(c, ' (the calibration run: it did not complete)', null)
      return 1
    }
    steps = Math.max(calibrationSteps, Math.round(slowest * minutes * 60))
    calibration = { steps: calibrationSteps, rate, seconds: c.seconds }
    log(`calibration: quiet ${rate.quiet.toFixed(2)} steps/s, attacked ${rate.attacked.toFixed(2)} steps/s → ${steps} steps for ${minutes} min`)
  }
  // Generous: startup, a slower machine, a slower attacked job (a stall is caught sooner).
  const deadlineMs = (5 + Math.max(3 * minutes, minutes + 10)) * 60_000
  log(`soak: ${steps} steps, sampling every ${sampleMs / 1000} s`)
  const run = await runPair(join(root, 'soak'), steps, deadlineMs, sampleMs, stallMs)
  return report(run, '', calibration) ? 0 : 1
}

// Anything unexpected (a peer that dies before it listens, a job file that cannot be written):
// one line, every child stopped (the 'exit' handler), the logs kept.
main().then(code => process.exit(code), (err: Error) => {
  process.stderr.write(`attack-soak: ${err.name}: ${err.message.split('\n')[0]}; logs kept in ${root}\n`)
  process.exit(1)
})
