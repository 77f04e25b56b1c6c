/**
 * `codenet peer --job FILE [--data-dir D] [--listen MA …] [--bootstrap MA …] [--swarm-key F]
 *                [--json F] [--export-weights F] [--no-mdns] [--fault-rate ε …]`
 *
 * One peer of a job. It finds the others by mDNS and/or the bootstrap list, keeps its identity
 * in the data dir (a restarted peer keeps its id and resumes from its checkpoint), trains, and
 * when the job's steps are done writes its summary and its decoded weights and exits 0.
 * Progress goes to stderr; the short result to stdout.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { parseJobSpec, JobError, jobHash } from '../../protocols/job.ts'
import { createPeerEngine, EngineError, type LocalFaults } from '../../node/engine.ts'
import { readSwarmKey, parseMultiaddrs, checkListenAddrs, PeerConfigError } from '../../node/peer.ts'
import { StalledError, TrainerError } from '../../training/trainer/index.ts'
import { StoreError, loadOrCreateIdentity } from '../../node/store.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseTicketFile, AdmissionError } from '../../protocols/admission.ts'
import { DEFAULT_SOFT_ERRORS, ERROR_KINDS, FAULT_SITES, type ErrorKind, type FaultSite } from '../../training/soft-errors.ts'
import { createFaultController } from '../../node/fault-controller.ts'
import { loadControlPublicKey, ControlAuthError, controlPeerId } from '../../node/control-auth.ts'
import type { KeyObject } from 'node:crypto'
import { datasetForConfig } from '../../training/simulate.ts'
import { encodeWeights } from '../../training/evaluate.ts'
import { dataProgress } from '../data-progress.ts'

function number (flag: string, v: string, min: number, max: number): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${flag} must be a number between ${min} and ${max}, got '${v}'`)
  return n
}

function writeOut (path: string, text: string | Uint8Array, what: string): void {
  try { writeFileSync(path, text) } catch (err) { throw new UsageError(`cannot write ${what} to ${path}: ${(err as Error).message}`) }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, {
    job: { type: 'string' },
    'data-dir': { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'swarm-key': { type: 'string' },
    json: { type: 'string' },
    'export-weights': { type: 'string' },
    'no-mdns': { type: 'boolean' },
    'round-timeout-ms': { type: 'string' },
    'fault-rate': { type: 'string' },
    'fault-kind': { type: 'string' },
    'fault-magnitude': { type: 'string' },
    'fault-site': { type: 'string', multiple: true },
    quiet: { type: 'boolean' },
    'control-key': { type: 'string' },
    dashboard: { type: 'string' },
    ticket: { type: 'string' },
    'print-id': { type: 'boolean' },
    open: { type: 'boolean' }
  })
  if (values['print-id'] === true) {
    // The id a job owner needs for `codenet job admit` (the identity is created if new).
    if (values['data-dir'] === undefined) throw new UsageError('--print-id needs --data-dir D (the identity lives there)')
    let id: string
    try { id = peerIdFromPrivateKey((await loadOrCreateIdentity(values['data-dir'])).key).toString() } catch (err) {
      if (err instanceof StoreError) throw new UsageError(err.message)
      throw err
    }
    ctx.stdout.write(`${id}\n`)
    return 0
  }
  if (values.job === undefined) throw new UsageError('--job FILE is required (write one with `codenet job init … > job.json`)')
  let text: string
  try { text = readFileSync(values.job, 'utf8') } catch (err) { throw new UsageError(`cannot read job file ${values.job}: ${(err as Error).message}`) }
  let job
  try { job = parseJobSpec(text) } catch (err) {
    if (err instanceof JobError) throw new UsageError(`${values.job}: ${err.message}`)
    throw err
  }
  const hash = jobHash(job)
  let ticket: string | undefined
  if (values.ticket !== undefined) {
    let t
    try { t = parseTicketFile(readFileSync(values.ticket, 'utf8'), values.ticket) } catch (err) {
      if (err instanceof AdmissionError) throw new UsageError(err.message)
      throw new UsageError(`cannot read ticket ${values.ticket}: ${(err as Error).message}`)
    }
    if (t.job !== hash) throw new UsageError(`${values.ticket} is a ticket for job ${t.job.slice(0, 16)}, not for ${values.job} (${hash.slice(0, 16)})`)
    ticket = t.ticket
  }
  const dataDir = values['data-dir'] ?? `codenet-peer-${hash.slice(0, 8)}`
  // The job's data, read before anything starts: a csv:/idx: file whose bytes differ from the
  // job's sha256 is refused here, naming the file (DatasetError, exit 2).
  const dataset = datasetForConfig(job.config, { progress: dataProgress(ctx.stderr, { quiet: values.quiet === true }) })
  try {
    checkListenAddrs(values.listen ?? [])
    parseMultiaddrs('--bootstrap', values.bootstrap ?? [])
  } catch (err) { throw new UsageError((err as Error).message) }
  // A data dir that is a file would fail deep inside the start; say so now.
  if (statSync(dataDir, { throwIfNoEntry: false })?.isDirectory() === false) throw new UsageError(`--data-dir ${dataDir} is a file, not a directory`)
  let faults: LocalFaults | undefined
  if (values['fault-rate'] !== undefined) {
    const kind = values['fault-kind'] ?? DEFAULT_SOFT_ERRORS.kind
    if (!(ERROR_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--fault-kind must be ${ERROR_KINDS.join('|')}, got '${kind}'`)
    const sites = values['fault-site'] ?? [DEFAULT_SOFT_ERRORS.site]
    for (const s of sites) if (!(FAULT_SITES as readonly string[]).includes(s)) throw new UsageError(`--fault-site must be one of ${FAULT_SITES.join('|')}, got '${s}'`)
    faults = {
      rate: number('fault-rate', values['fault-rate'], 0, 1),
      kind: kind as ErrorKind,
      magnitude: values['fault-magnitude'] !== undefined ? number('fault-magnitude', values['fault-magnitude'], 0, 1e12) : DEFAULT_SOFT_ERRORS.magnitude,
      sites: sites as FaultSite[]
    }
  }
  let swarmKey: Uint8Array | undefined
  if (values['swarm-key'] !== undefined) {
    try { swarmKey = await readSwarmKey(values['swarm-key']) } catch (err) { throw new UsageError((err as Error).message) }
  }
  // Beyond loopback without a swarm key, any host that can reach the port can connect: the
  // job's admission still keeps it out of training, but say so loudly (--open: acknowledged).
  const beyondLoopback = (values.listen ?? ['/ip4/0.0.0.0/tcp/0']).some(a => !/^\/ip[46]\/(127\.|::1\/)/.test(a))
  if (beyondLoopback && swarmKey === undefined && values.open !== true) {
    ctx.stderr.write('[codenet peer] WARNING: listening beyond loopback with no --swarm-key: any host that reaches this port can connect (only the job\'s admission keeps strangers out of training); give --swarm-key FILE, or --open to run like this on purpose\n')
  }
  // Signed fault commands (`codenet fault`) are obeyed only with this public key.
  let controlKey: KeyObject | null = null
  if (values['control-key'] !== undefined) {
    try { controlKey = loadControlPublicKey(values['control-key']) } catch (err) {
      if (err instanceof ControlAuthError) throw new UsageError(err.message)
      throw err
    }
  }
  const dashboardPort = values.dashboard !== undefined ? number('dashboard', values.dashboard, 0, 65535) : undefined
  const print = values.quiet === true ? () => {} : (line: string) => { ctx.stderr.write(`[codenet peer] ${line}\n`) }
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // A crash command ends the process; in a `codenet host` it ends this peer alone, at once
  // (engine.abort: no flush, no summary), and the host reports the crash's exit code for it.
  let crashed: number | null = null
  let onCrash: () => void = () => {}
  const crash = new Promise<void>(resolve => { onCrash = resolve })
  const exit = ctx.hosted === undefined
    ? (code: number) => process.exit(code)
    : (code: number) => { crashed = code; controller.abort(); onCrash(); void engine.abort() }
  const faultController = createFaultController({
    authorisedKey: controlKey, job: hash, dataDir, exit, signal: controller.signal, print
  })
  const engine = createPeerEngine({
    hooks: {
      wrapInjector: (b) => faultController.wrapInjector(b),
      wrapExchange: (e) => faultController.wrapExchange(e),
      joined: (c) => { faultController.joined(c) },
      control: faultController.handlers,
      status: () => faultController.status()
    },
    job,
    ...(ticket !== undefined ? { ticket } : {}),
    ...(controlKey !== null ? { controller: controlPeerId(controlKey) } : {}),
    dataset,
    dataDir,
    listen: values.listen,
    bootstrap: values.bootstrap,
    mdns: values['no-mdns'] !== true,
    swarmKey,
    faults,
    roundTimeoutMs: values['round-timeout-ms'] !== undefined ? number('round-timeout-ms', values['round-timeout-ms'], 100, 600_000) : undefined,
    print,
    signal: controller.signal,
    ...(ctx.hosted !== undefined ? { processPeers: ctx.hosted.peers } : {})
  })
  let stopDashboard: (() => Promise<void>) | null = null
  try {
    try {
      await engine.start()
      // Commands are signed for this peer id (and this job and boot): obeyed from here on.
      await faultController.bind(engine.peerId)
    } catch (err) {
      // Data dir, listen address, admission: one line each, never a stack trace.
      if (err instanceof StoreError || err instanceof PeerConfigError || err instanceof EngineError) { ctx.stderr.write(`codenet peer: ${err.message}\n`); return controller.signal.aborted ? 130 : 1 }
      throw err
    }
    print(`peer ${engine.peerId}, job ${hash.slice(0, 16)}, data dir ${dataDir}`)
    for (const a of engine.addresses()) print(`listening on ${a}`)
    if (dashboardPort !== undefined) {
      const { startPeerDashboard } = await import('../dashboard/peer-source.ts')
      const d = await startPeerDashboard(engine, dashboardPort)
      stopDashboard = d.close
      print(`dashboard on ${d.url}`)
    }
    let result
    try {
      const running = engine.run()
      // After a hosted crash the run may settle late (or reject): nobody waits for it.
      running.catch(() => {})
      result = await Promise.race([running, crash.then(() => null)])
    } catch (err) {
      if (crashed !== null) return crashed
      if (err instanceof EngineError) { ctx.stderr.write(`codenet peer: ${err.message}\n`); return controller.signal.aborted ? 130 : 1 }
      // A stall (the network cannot get past a step) ends this peer with its cause; so does any
      // other trainer failure. Anything else reaches the CLI's top level, also as one line.
      if (err instanceof StalledError) { ctx.stderr.write(`codenet peer: training stalled: ${err.message}\n`); return 1 }
      if (err instanceof TrainerError) { ctx.stderr.write(`codenet peer: training failed: ${err.message}\n`); return 1 }
      throw err
    }
    if (result === null || crashed !== null) return crashed ?? 1
    const s = result.summary
    if (values.json !== undefined) writeOut(values.json, `${JSON.stringify(s, null, 2)}\n`, 'the summary')
    if (values['export-weights'] !== undefined) writeOut(values['export-weights'], encodeWeights(values['export-weights'], result.weights), 'the weights')
    ctx.stdout.write(`peer ${s.self} of ${s.peers}: ${s.steps} steps in ${s.wallSeconds.toFixed(1)} s; test accuracy ${(100 * s.testAccuracy).toFixed(2)} %, train loss ${s.trainLoss.toFixed(4)}; ` +
      `faults detected ${s.faults.detected}, corrected ${s.faults.corrected}, uncorrectable ${s.faults.uncorrectable}; rollbacks ${s.rollbacks}, repairs ${s.repairs}; step ${s.timing.stepMs.median.toFixed(1)} ms median\n`)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    faultController.close()
    await stopDashboard?.().catch(() => {})
    if (crashed !== null) await engine.abort()
    else await engine.stop(1000).catch(() => {})
  }
}

export const peerCommand: Command = {
  ...describeCommand('peer'),
  run
}
