/**
 * The testnet launcher: P `codenet peer` processes on 127.0.0.1 and the operator's view of them.
 *
 *   start     job.json + a fresh Ed25519 control key in the state folder; slot 0 is started
 *             first, its printed address bootstraps the others; each slot has its own data dir
 *             and log; every peer obeys only the control key's public half (--control-key)
 *   monitor   once a second: each peer's status over the control protocol → rows, totals,
 *             curves, timeline events (testnet/monitor.ts), test accuracy from verified
 *             checkpoints (testnet/accuracy.ts), new lines of history.jsonl, due replay entries;
 *             state.json is rewritten so `codenet status|fault|testnet down` find everything
 *   restart   a peer that exits with CRASH_EXIT_CODE (a `codenet fault crash`) is started again
 *             after the crash's --restart-after-s, with the same data dir and port (same peer id,
 *             resumes from its checkpoint); without a restart delay it stays down. The delay is
 *             the crash intent the fault CLI wrote to the state folder before it sent the
 *             command (testnet/fault-history.ts): it is there when the peer exits
 *   finish    when every peer has exited: the peers' summaries are aggregated
 *   stop      SIGTERM to every child, SIGKILL after a grace period, wait for all exits: no
 *             orphans; the peers' checkpoints are written atomically, so they stay intact
 *
 * One idea — supervising the peer processes of one testnet — in a little over 400 lines; the
 * operator's view (monitor.ts) and the start-of-run faults (start-faults.ts) live apart.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { availableParallelism } from 'node:os'
import { createInterface } from 'node:readline'
import { logger } from '@libp2p/logger'
import type { TrainingConfig } from '../training/config.ts'
import { createJobSpec, jobHash } from '../protocols/job.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../node/store.ts'
import { QUIC_AVAILABLE } from '../node/transports.ts'
import type { PeerSummary } from '../node/engine.ts'
import { COMMAND_DEFAULTS, CRASH_EXIT_CODE } from '../node/fault-controller.ts'
import { generateControlKey, saveControlKey, loadControlPrivateKey } from '../node/control-auth.ts'
import { datasetForConfig } from '../training/simulate.ts'
import { totalStepsOf } from '../training/trainer/index.ts'
import { BatchOrder } from '../training/batches.ts'
import { createControlClient, type ControlClient } from './control-client.ts'
import { CheckpointEvaluator } from './accuracy.ts'
import { aggregate, type MonitorView, type PeerRow, type TestnetSummary } from './snapshot.ts'
import { Monitor } from './monitor.ts'
import { armedAtStart, armFlags } from './start-faults.ts'
import { EXIT_MARK } from './commands/host.ts'
import { STATE_VERSION, writeState, type PeerSlot, type TestnetPaths, type TestnetState } from './state.ts'
import { commandOf, crashIntentFile, injectFault, launcherOf, readCrashIntents, readHistory, ReplaySchedule, restartDelayFor, type CrashIntent, type HistoryEntry } from './fault-history.ts'

export const BIN = fileURLToPath(new URL('./bin.js', import.meta.url))

/**
 * The processes a testnet runs its P peers in by default: one per core, at most P. Six peer
 * processes on two cores are paced by the OS scheduler and each pays its own V8 compiler and
 * collector; two hosts of three peers ran the default job in 15–23 % less CPU
 * (docs/performance.md, "Third pass").
 */
export function defaultProcesses (peers: number, cores = availableParallelism()): number {
  return Math.max(1, Math.min(peers, cores))
}

export class LaunchError extends Error {
  override name = 'LaunchError'
}

export interface LaunchOptions {
  config: TrainingConfig
  paths: TestnetPaths
  keep?: boolean
  /** Recorded injections to replay (testnet/fault-history.ts). */
  replay?: HistoryEntry[]
  /** `codenet peer --round-timeout-ms`. */
  roundTimeoutMs?: number
  /** Give up when the peers have not joined within this long (ms). Default 120 s. */
  joinTimeoutMs?: number
  /** SIGTERM → SIGKILL grace, ms. Default 15 s. */
  stopGraceMs?: number
  pollMs?: number
  print?: (line: string) => void
  /** Called after every poll. */
  onUpdate?: (view: MonitorView, rows: PeerRow[], state: TestnetState) => void
  /**
   * Processes to run the peers in. Default (and any value ≥ the peers): one `codenet peer`
   * process each. Fewer: that many `codenet host` processes, slot k in host k mod N.
   */
  processes?: number
}

/** A `codenet host` process and the peers running in it (slot → its line and exit handlers). */
interface PeerHost {
  index: number
  child: ChildProcess
  peers: Map<number, { onLine: (line: string) => void, onExit: (code: number | null, sig: NodeJS.Signals | null) => void }>
  exited: Promise<void> | null
}

interface Slot extends PeerSlot {
  child: ChildProcess | null
  exited: Promise<void> | null
  restartTimer: ReturnType<typeof setTimeout> | null
  logStream: WriteStream | null
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export class Testnet {
  readonly opts: LaunchOptions
  readonly paths: TestnetPaths
  readonly state: TestnetState
  private readonly slots: Slot[] = []
  private readonly hosts: PeerHost[] = []
  private client: ControlClient | null = null
  private readonly log = logger('codenet:launch')
  private readonly print: (line: string) => void
  private pollTimer: ReturnType<typeof setTimeout> | null = null
  private stopping = false
  private readonly startedAt = Date.now()
  private readonly monitoring: Monitor
  private history: HistoryEntry[] = []
  private evaluator: CheckpointEvaluator | null = null
  private evaluating = false
  private replay: ReplaySchedule | null
  /** The soft errors every peer arms at start (peer flags), or null. */
  private readonly armed: HistoryEntry | null
  private armedRecorded = false
  /** Start-of-training fault commands that could not be delivered (reported, and the run fails). */
  readonly undelivered: string[] = []
  private finishedResolve!: (s: TestnetSummary | null) => void
  readonly finished: Promise<TestnetSummary | null>
  private summary: TestnetSummary | null = null
  private lastRows: PeerRow[] = []

  constructor (opts: LaunchOptions) {
    this.opts = opts
    this.paths = opts.paths
    this.print = opts.print ?? (() => {})
    // Soft errors for every peer from the start are armed by each peer's own start flags, not
    // sent as commands: they cannot be missed (a command sent by timing can be), and a peer
    // that restarts is armed again. They are still recorded in the history.
    const replay = opts.replay ?? []
    this.armed = replay.find(armedAtStart) ?? null
    const rest = replay.filter(e => e !== this.armed)
    this.replay = rest.length > 0 || opts.replay !== undefined ? new ReplaySchedule(rest) : null
    // Replaced in start() by the hash of the job with its members listed.
    const spec = createJobSpec(opts.config)
    const order = new BatchOrder(opts.config.seed, datasetForConfig(opts.config).train.count, opts.config.batch)
    this.state = {
      version: STATE_VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      phase: 'starting',
      keep: opts.keep === true,
      peers: [],
      dashboardUrl: null,
      jobFile: this.paths.job,
      job: jobHash(spec),
      totalSteps: totalStepsOf(opts.config, order.stepsPerEpoch),
      monitor: null,
      rows: [],
      error: null
    }
    this.monitoring = new Monitor(this.state.totalSteps, this.startedAt)
    this.finished = new Promise(resolve => { this.finishedResolve = resolve })
  }

  get monitor (): MonitorView { return this.monitoring.view }
  get rows (): PeerRow[] { return this.lastRows }

  setDashboardUrl (url: string | null): void { this.state.dashboardUrl = url; this.save() }

  private save (): void {
    this.state.peers = this.slots.map(({ child: _c, exited: _e, restartTimer: _r, logStream: _l, ...p }) => p)
    this.state.monitor = this.monitor
    this.state.rows = this.lastRows
    try { writeState(this.paths, this.state) } catch (err) { this.log.error('state not written: %s', (err as Error).message) }
  }

  /** Fresh state folder contents, then every peer process. Resolves once all are spawned. */
  async start (): Promise<void> {
    const P = this.opts.config.peers
    mkdirSync(this.paths.dir, { recursive: true })
    // The host processes first: their start (Node, the peer's modules) overlaps the job's setup.
    const processes = this.opts.processes ?? P
    if (processes < P) this.spawnHosts(Math.max(1, processes))
    // A previous testnet's peers must not resume from their checkpoints into this one.
    for (let k = 0; k < 256; k++) {
      if (!existsSync(this.paths.slotDir(k)) && !existsSync(this.paths.slotLog(k))) continue
      rmSync(this.paths.slotDir(k), { recursive: true, force: true })
      for (const f of [this.paths.slotLog(k), this.paths.slotSummary(k), this.paths.slotWeights(k)]) rmSync(f, { force: true })
    }
    for (const f of [this.paths.history, this.paths.summary, crashIntentFile(this.paths.dir)]) rmSync(f, { force: true })
    writeFileSync(this.paths.history, '')
    // The peers' identities first: the job lists them as its members, so no one else can take
    // a seat (protocols/admission.ts), and a restarted peer keeps its id (its data dir).
    const members: string[] = []
    for (let k = 0; k < P; k++) members.push(peerIdFromPrivateKey((await loadOrCreateIdentity(this.paths.slotDir(k))).key).toString())
    const spec = createJobSpec(this.opts.config, { members })
    this.state.job = jobHash(spec)
    writeFileSync(this.paths.job, `${JSON.stringify(spec, null, 2)}\n`)
    const control = generateControlKey()
    saveControlKey(control, this.paths.key, this.paths.pub)
    // The control key is also the launcher's identity: the peers show it their full status.
    this.client = await createControlClient({ key: control.privateKey })
    this.evaluator = new CheckpointEvaluator(this.opts.config, datasetForConfig(this.opts.config))
    for (let k = 0; k < P; k++) {
      this.slots.push({
        slot: k, pid: null, port: null, peerId: null, index: null, addresses: [], dataDir: this.paths.slotDir(k), log: this.paths.slotLog(k),
        summaryFile: this.paths.slotSummary(k), restarts: 0, process: 'starting', exitCode: null, child: null, exited: null, restartTimer: null, logStream: null
      })
    }
    this.save()
    this.spawnSlot(this.slots[0])
    const until = Date.now() + 30_000
    while (this.slots[0].addresses.length === 0) {
      if (this.slots[0].process !== 'running' && this.slots[0].process !== 'starting') throw new LaunchError(`peer 0 exited before it listened (see ${this.slots[0].log})`)
      if (Date.now() > until) throw new LaunchError(`peer 0 did not print its address within 30 s (see ${this.slots[0].log})`)
      await sleep(50)
    }
    for (let k = 1; k < P; k++) this.spawnSlot(this.slots[k])
    this.state.phase = 'joining'
    this.save()
    this.print(`started ${P} peers; state in ${this.paths.dir}`)
    this.schedulePoll(0)
  }

  private bootstrapFor (slot: Slot): string[] {
    return this.slots.filter(s => s !== slot && s.addresses.length > 0).map(s => s.addresses.find(a => a.includes('/127.0.0.1/')) ?? s.addresses[0])
  }

  /** The host process for a slot (slot k → host k mod N), or null: the slot gets a process of its own. */
  private hostFor (slot: Slot): PeerHost | null {
    if (this.hosts.length === 0) return null
    const h = this.hosts[slot.slot % this.hosts.length]
    return h.child.exitCode === null && h.child.signalCode === null && h.child.stdin?.writable === true ? h : null
  }

  /** Node options and environment for peer and host processes. */
  private childEnv (): NodeJS.ProcessEnv {
    // CODENET_PEER_NODE_OPTIONS: Node options for the peers only, not the launcher (e.g.
    // `--cpu-prof --cpu-prof-dir=DIR`, as `codenet bench step --cpu-prof` sets it).
    const nodeOptions = process.env.CODENET_PEER_NODE_OPTIONS
    return { ...process.env, DEBUG: process.env.CODENET_PEER_DEBUG ?? '', ...(nodeOptions !== undefined && nodeOptions !== '' ? { NODE_OPTIONS: nodeOptions } : {}) }
  }

  /** N `codenet host` processes; peers are started in them by spawnSlot. */
  private spawnHosts (n: number): void {
    for (let i = 0; i < n; i++) {
      const child = spawn(process.execPath, [BIN, 'host'], { stdio: ['pipe', 'pipe', 'pipe'], env: this.childEnv() })
      const host: PeerHost = { index: i, child, peers: new Map(), exited: null }
      const slotsOf = (): Slot[] => this.slots.filter(s => s.slot % n === i)
      // Lines that are not a peer's (the host's own: a stray error): into the logs of its slots.
      const own = (line: string): void => {
        this.log('host %d: %s', i, line)
        for (const s of slotsOf()) s.logStream?.write(`[host ${i}] ${line}\n`)
      }
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const m = /^@(\d+) (.*)$/.exec(line)
        const peer = m !== null ? host.peers.get(Number(m[1])) : undefined
        if (m === null || peer === undefined) { own(line); return }
        if (m[2].startsWith(EXIT_MARK)) {
          host.peers.delete(Number(m[1]))
          peer.onExit(Number(m[2].slice(EXIT_MARK.length)), null)
        } else peer.onLine(m[2])
      })
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', own)
      // A host that died under a start line: the write fails (EPIPE) and its exit reports the peers.
      child.stdin?.on('error', (err) => { own(`stdin: ${err.message}`) })
      host.exited = new Promise(resolve => {
        child.on('error', (err) => { own(`spawn error: ${err.message}`) })
        child.on('exit', (code, sig) => {
          own(`host exited with ${code ?? sig}`)
          // Its peers that had not ended end with it.
          for (const [k, peer] of host.peers) { host.peers.delete(k); peer.onExit(code === 0 || code === null ? 128 : code, sig) }
          resolve()
        })
      })
      this.hosts.push(host)
    }
  }

  private spawnSlot (slot: Slot): void {
    const args = [
      BIN, 'peer', '--job', this.paths.job, '--data-dir', slot.dataDir, '--listen', `/ip4/127.0.0.1/tcp/${slot.port ?? 0}`,
      // CODENET_TESTNET_QUIC=1: members also listen on QUIC (faster in \`bench exchange\`). Not the
      // default yet: a clean-clone run of the end-to-end test with QUIC stalled after its
      // crash + restart, and that was not understood before this version was cut.
      ...(process.env.CODENET_TESTNET_QUIC === '1' && QUIC_AVAILABLE ? ['--listen', '/ip4/127.0.0.1/udp/0/quic-v1'] : []), '--no-mdns',
      '--json', slot.summaryFile, '--export-weights', this.paths.slotWeights(slot.slot), '--control-key', this.paths.pub,
      ...this.bootstrapFor(slot).flatMap(b => ['--bootstrap', b]),
      ...(this.opts.roundTimeoutMs !== undefined ? ['--round-timeout-ms', String(this.opts.roundTimeoutMs)] : []),
      ...(this.armed !== null ? armFlags(this.armed) : [])
    ]
    const host = this.hostFor(slot)
    slot.process = 'starting'
    slot.exitCode = null
    slot.logStream ??= createWriteStream(slot.log, { flags: 'a' })
    const logStream = slot.logStream
    logStream.write(`--- ${new Date().toISOString()} start (restart ${slot.restarts})${host !== null ? ` in host ${host.index} (pid ${host.child.pid})` : ''}: ${args.slice(1).join(' ')}\n`)
    const onLine = (line: string): void => {
      logStream.write(`${line}\n`)
      const m = /listening on (\/ip4\/\S+\/tcp\/(\d+)\/p2p\/(\S+))/.exec(line)
      if (m !== null) {
        if (!slot.addresses.includes(m[1]) || slot.process === 'starting') {
          slot.addresses = [m[1], ...slot.addresses.filter(a => a !== m[1])]
          slot.port = Number(m[2])
          slot.peerId = m[3]
          slot.process = 'running'
          this.save()
        }
      }
    }
    const ended = (code: number | null, sig: NodeJS.Signals | null): void => {
      slot.child = null
      slot.exitCode = code ?? (sig !== null ? 128 : null)
      logStream.write(`--- exit ${code ?? sig}\n`)
      this.onExit(slot, code, sig)
    }
    if (host !== null) {
      slot.child = host.child
      slot.pid = host.child.pid ?? null
      slot.exited = new Promise(resolve => {
        host.peers.set(slot.slot, { onLine, onExit: (code, sig) => { ended(code, sig); resolve() } })
      })
      host.child.stdin?.write(`${JSON.stringify({ slot: slot.slot, argv: args.slice(2) })}\n`)
      return
    }
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.childEnv() })
    slot.child = child
    slot.pid = child.pid ?? null
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine)
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', onLine)
    slot.exited = new Promise(resolve => {
      child.on('error', (err) => { logStream.write(`spawn error: ${err.message}\n`) })
      child.on('exit', (code, sig) => { ended(code, sig); resolve() })
    })
  }

  /** Lets the host processes end (each does once its peers have). */
  private releaseHosts (): void {
    for (const h of this.hosts) h.child.stdin?.end()
  }

  private onExit (slot: Slot, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.stopping) { slot.process = 'stopped'; this.save(); return }
    if (code === CRASH_EXIT_CODE) {
      // The fault CLI wrote the crash's restart intent before it sent the command: it is on disk.
      const delay = restartDelayFor(this.readCrashIntentsSafe(), slot.index, this.startedAt)
      this.monitoring.event({ type: 'crash', peer: slot.index, count: 1, detail: `peer ${slot.index ?? `slot ${slot.slot}`} crashed on command${delay !== null ? `; restart in ${delay} s` : '; stays down'}` })
      this.print(`peer ${slot.index ?? slot.slot} crashed${delay !== null ? `; restarting in ${delay} s` : ''}`)
      if (delay !== null) {
        slot.process = 'crashed'
        slot.restartTimer = setTimeout(() => {
          slot.restartTimer = null
          if (this.stopping) return
          slot.restarts++
          this.monitor.totals.restarts++
          this.monitoring.event({ type: 'restart', peer: slot.index, count: 1, detail: `peer ${slot.index ?? slot.slot} restarted with its data dir` })
          this.spawnSlot(slot)
        }, delay * 1000)
      } else {
        slot.process = 'exited'
      }
    } else {
      slot.process = 'exited'
      if (code !== 0) {
        this.monitoring.event({ type: 'exit', peer: slot.index, count: 1, detail: `peer ${slot.index ?? slot.slot} exited with ${code ?? sig}` })
        this.print(`peer ${slot.index ?? slot.slot} exited with ${code ?? sig} (log: ${slot.log})`)
      }
    }
    this.save()
    this.checkFinished()
  }

  private checkFinished (): void {
    if (this.stopping || this.summary !== null) return
    if (this.slots.some(s => s.child !== null || s.restartTimer !== null)) return
    const summaries: PeerSummary[] = []
    for (const s of this.slots) {
      try { summaries.push(JSON.parse(readFileSync(s.summaryFile, 'utf8')) as PeerSummary) } catch {}
    }
    if (summaries.length === 0) {
      this.state.phase = 'failed'
      this.state.error = 'every peer exited without a summary (see the peer logs)'
      this.save()
      this.finishedResolve(null)
      return
    }
    this.history = this.readHistorySafe()
    this.summary = aggregate(summaries, {
      wallSeconds: (Date.now() - this.startedAt) / 1000,
      restarts: this.slots.reduce((a, s) => a + s.restarts, 0),
      processes: this.hosts.length > 0 ? this.hosts.length : this.opts.config.peers,
      faultsInjectedByCommand: this.history.filter(e => e.kind !== 'clear').length
    })
    writeFileSync(this.paths.summary, `${JSON.stringify(this.summary, null, 2)}\n`)
    this.releaseHosts()
    this.state.phase = 'done'
    // A last look at the final accuracy, as the peers reported it.
    this.monitor.testAccuracy = this.summary.testAccuracy
    this.monitor.accuracy.push({ t: Date.now() - this.startedAt, step: this.summary.steps, testAccuracy: this.summary.testAccuracy })
    this.monitor.step = this.summary.steps
    this.save()
    this.finishedResolve(this.summary)
  }

  get finalSummary (): TestnetSummary | null { return this.summary }

  private readCrashIntentsSafe (): CrashIntent[] {
    try { return readCrashIntents(crashIntentFile(this.paths.dir)) } catch (err) { this.log.error('%s', (err as Error).message); return [] }
  }

  private readHistorySafe (): HistoryEntry[] {
    try { return readHistory(this.paths.history) } catch (err) { this.log.error('%s', (err as Error).message); return this.history }
  }

  private schedulePoll (ms: number): void {
    if (this.stopping) return
    this.pollTimer = setTimeout(() => { void this.poll().finally(() => { this.schedulePoll(this.opts.pollMs ?? 1000) }) }, ms)
  }

  private async poll (): Promise<void> {
    const client = this.client
    if (client === null) return
    const statuses = await Promise.all(this.slots.map(async s => {
      if (s.child === null || s.addresses.length === 0) return null
      try { return await client.status(s.addresses[0], 2000) } catch { return null }
    }))
    if (this.stopping) return
    const t = Date.now() - this.startedAt
    statuses.forEach((st, k) => {
      const slot = this.slots[k]
      if (st === null) return
      if (typeof st.index === 'number' && st.index >= 0) slot.index = st.index
      if (typeof st.peerId === 'string') slot.peerId = st.peerId
    })
    const slots = this.slots.map(s => ({ slot: s.slot, peerId: s.peerId, address: s.addresses[0] ?? null, restarts: s.restarts, index: s.index }))
    this.lastRows = this.monitoring.observe(t, slots, statuses, this.slots.reduce((a, s) => a + s.restarts, 0), this.state.phase === 'done')
    if (this.state.phase === 'joining' && statuses.some(s => s?.phase === 'training')) { this.state.phase = 'training'; this.print('peers joined; training') }
    this.history = this.readHistorySafe()
    this.monitoring.history(this.history)
    await this.replayDue(t)
    void this.evaluate()
    this.save()
    this.opts.onUpdate?.(this.monitor, this.lastRows, this.state)
    if (this.state.phase === 'joining' && t > (this.opts.joinTimeoutMs ?? 120_000)) {
      this.state.error = `the peers did not join within ${(this.opts.joinTimeoutMs ?? 120_000) / 1000} s`
      this.print(this.state.error)
    }
  }

  private async replayDue (t: number): Promise<void> {
    if (this.client === null || this.state.phase !== 'training') return
    // The peers' indices in the state are refreshed by save(): commands address peers by index.
    this.save()
    if (this.armed !== null && !this.armedRecorded && this.slots.every(s => s.index !== null)) {
      this.armedRecorded = true
      const delivered = this.slots.map(s => s.index as number).sort((a, b) => a - b)
      appendFileSync(this.paths.history, `${JSON.stringify({ ...this.armed, at: Date.now(), sinceStartMs: 0, step: 0, delivered, errors: {} })}\n`)
    }
    if (this.replay === null) return
    // Every peer must be addressable by its index first (a scheduled fault aimed at 'all' reaches all).
    if (this.slots.some(s => s.index === null && s.child !== null)) return
    const step = this.monitor.series.length > 0 ? this.monitor.step : null
    for (const { n, e } of this.replay.due(t, step)) {
      try {
        const r = await injectFault({
          client: this.client, key: loadControlPrivateKey(this.paths.key), state: this.state, historyFile: this.paths.history, intentFile: crashIntentFile(this.paths.dir),
          target: e.target, kind: e.kind, cmd: commandOf(e), launcher: launcherOf(e), step, replayOf: n
        })
        this.print(`fault ${e.kind} → ${e.target === 'all' ? 'all peers' : `peer ${e.target}`} (seed ${e.seed}${e.kind === 'soft-error' ? `, rate ${e.params.rate ?? COMMAND_DEFAULTS.rate} at ${e.params.site ?? COMMAND_DEFAULTS.site}` : ''}): delivered to [${r.entry.delivered.join(',')}]`)
      } catch (err) {
        this.print(`replay of ${e.kind} → ${e.target} failed: ${(err as Error).message}`)
        if (e.sinceStartMs === 0 && e.step === 0) this.undelivered.push(`${e.kind} → ${e.target}: ${(err as Error).message}`)
      }
    }
  }

  private async evaluate (): Promise<void> {
    if (this.evaluating || this.evaluator === null || this.state.phase !== 'training') return
    this.evaluating = true
    try {
      const dirs = this.slots.filter(s => s.index !== null).map(s => s.dataDir)
      const r = await this.evaluator.evaluateNewest(dirs)
      if (r !== null) {
        this.monitor.accuracy.push({ t: Date.now() - this.startedAt, step: r.step, testAccuracy: r.testAccuracy })
        this.monitor.testAccuracy = r.testAccuracy
      }
    } catch (err) {
      this.log('checkpoint evaluation failed: %s', (err as Error).message)
    } finally {
      this.evaluating = false
    }
  }

  /** Stop every peer: SIGTERM, then SIGKILL after the grace period; resolves when all are gone. */
  async stop (): Promise<void> {
    if (this.stopping) { await Promise.all(this.slots.map(async s => { await s.exited })); return }
    this.stopping = true
    if (this.state.phase !== 'done' && this.state.phase !== 'failed') this.state.phase = 'stopping'
    this.save()
    if (this.pollTimer !== null) clearTimeout(this.pollTimer)
    for (const s of this.slots) { if (s.restartTimer !== null) { clearTimeout(s.restartTimer); s.restartTimer = null } }
    const grace = this.opts.stopGraceMs ?? 15_000
    await Promise.all(this.slots.map(async s => {
      const child = s.child
      if (child === null || s.exited === null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => { if (s.child !== null) child.kill('SIGKILL') }, grace)
      await s.exited
      clearTimeout(timer)
    }))
    this.releaseHosts()
    await Promise.all(this.hosts.map(async h => {
      if (h.exited === null) return
      const timer = setTimeout(() => { h.child.kill('SIGKILL') }, grace)
      await h.exited
      clearTimeout(timer)
    }))
    for (const s of this.slots) s.logStream?.end()
    await this.client?.stop().catch(() => {})
    this.client = null
    if (this.state.phase !== 'done' && this.state.phase !== 'failed') this.state.phase = 'stopped'
    this.save()
    if (this.summary === null) this.finishedResolve(null)
  }

  /** Mark the testnet as gone for good (the launcher is exiting). */
  markStopped (): void {
    this.state.phase = this.state.phase === 'done' && this.state.keep ? 'stopped' : this.state.phase === 'done' ? 'done' : 'stopped'
    this.save()
  }

  /** Child pids (for tests and `down`). */
  pids (): number[] { return [...new Set(this.slots.map(s => s.child?.pid).filter((p): p is number => p !== undefined))] }
}

