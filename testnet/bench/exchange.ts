/**
 * `codenet bench exchange`: the project's libp2p exchange against raw TCP, all-to-all.
 *
 * P local processes (testnet/bench/exchange-worker.ts) each carry both: the `ResultExchange`
 * of protocols/results.ts on a libp2p host built as codenet peers build theirs (TCP + noise +
 * yamux, node/peer.ts), and raw `node:net` sockets with the same length-prefixed frames and
 * the same reassembly. A round: every process sends one message of the size to every other
 * process and waits until it holds the P − 1 others' messages of that round. Rounds run in
 * batches back to back in every process; batches alternate between the two transports (and
 * which goes first) in the same processes, so machine load falls on both alike.
 *
 * A round's time is, per process, the time from completing the previous round to completing
 * this one (its own clock), and the round counts at the slowest process's figure. The first
 * round of each batch is not timed (the processes start it at slightly different moments).
 * Reported: the median over timed rounds per size and transport, and libp2p / raw.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, quantile } from '../../codes/stats.ts'
import { HOST_TRANSPORTS, type BenchSide, type BenchTransport, type FromWorker, type HostTransport, type ToWorker, type WorkerContact } from './exchange-worker.ts'

const WORKER_PATH = fileURLToPath(new URL('./exchange-worker.ts', import.meta.url))
const KiB = 1024
export const EXCHANGE_SIZES = [KiB, 16 * KiB, 64 * KiB, 1024 * KiB] as const
/** libp2p / raw at most this at ≥ 16 KiB per message, and SMALL_TARGET below (issue 11). */
export const LARGE_TARGET = 1.5
export const SMALL_TARGET = 3
export const LARGE_FROM_BYTES = 16 * KiB

export class ExchangeBenchError extends Error {
  override name = 'ExchangeBenchError'
}

export interface ExchangeBenchOptions {
  out: NodeJS.WritableStream
  json?: string
  /** Few repeats and short batches (a smoke run, not the official figure). */
  quick?: boolean
  /** Processes (default 6). */
  peers?: number
  /** Bytes per message (default 1 KiB, 16 KiB, 64 KiB, 1 MiB); multiples of 8. */
  sizes?: readonly number[]
  /** Batch pairs (one libp2p and one raw batch each) per size. */
  repeats?: number
  /** Run one side only (e.g. to profile the libp2p side alone). */
  only?: BenchTransport
  /**
   * The libp2p transports, each on its own host in every process, interleaved with each other
   * and with raw (default ['tcp']). The first is the one `libp2p`, `ratio` and `pass` report.
   */
  transports?: readonly HostTransport[]
  /** Profile process 0 (V8 CPU profile of the timed rounds, after warm-up) into this folder and summarise it. */
  cpuProfDir?: string
}

export interface TransportFigures {
  /** Median round time, ms. */
  medianMs: number
  p10Ms: number
  p90Ms: number
  roundsTimed: number
  /** All-to-all payload bytes per round / median round time, MiB/s. */
  mibPerSecond: number
}

/** One libp2p transport's figures for one message size. */
export interface TransportRow {
  transport: HostTransport
  libp2p: TransportFigures | null
  /** This transport's median / raw median. */
  ratio: number | null
  pass: boolean | null
}

export interface ExchangeBenchRow {
  bytes: number
  label: string
  shape: string
  /** The first transport's figures (the others are in byTransport). */
  libp2p: TransportFigures | null
  raw: TransportFigures | null
  /** libp2p median / raw median. */
  ratio: number | null
  target: number
  pass: boolean | null
  /** Every transport measured, in the order asked for. */
  byTransport: TransportRow[]
}

export interface Delivery {
  /** Messages every round should have brought: rounds · P · (P − 1). */
  expected: number
  received: number
  /** Received whole, from the named sender, for the right round. */
  verified: number
}

export interface ProfileEntry {
  function: string
  location: string
  selfMs: number
  /** Of the profile's non-idle time. */
  selfPercent: number
}

export interface ExchangeBenchResult extends MachineInfo {
  benchmark: 'exchange'
  quick: boolean
  peers: number
  repeats: number
  /** The libp2p transports measured; the first is what `libp2p`, `ratio`, `pass` and `delivered.libp2p` report. */
  transports: HostTransport[]
  /** What the libp2p side runs. */
  libp2p: string
  raw: string
  round: string
  rows: ExchangeBenchRow[]
  delivered: Record<BenchTransport, Delivery | null>
  /** Per side run (each libp2p transport and raw). */
  deliveredBy: Partial<Record<BenchSide, Delivery>>
  /** Every row of the first transport with both sides measured met its target; null when no ratio was measured. */
  pass: boolean | null
  /** With cpuProfDir: process 0's profile over the timed rounds, its top self-time functions and packages. */
  profile?: { file: string } & ProfileSummary
}

export interface ProfileSummary {
  totalMs: number
  idleMs: number
  top: ProfileEntry[]
  byPackage: Array<{ package: string, selfMs: number, selfPercent: number }>
}

/** What a libp2p host of the transport stacks up. */
const TRANSPORT_STACK: Record<HostTransport, string> = { tcp: 'TCP + noise + yamux', quic: 'QUIC (TLS 1.3, native streams)' }

const sizeLabel = (b: number): string => b >= 1024 * KiB && b % (1024 * KiB) === 0 ? `${b / (1024 * KiB)} MiB` : b >= KiB && b % KiB === 0 ? `${b / KiB} KiB` : `${b} B`

/** A message of `bytes` bytes as a rows × cols float64 result (16 columns, a batch, when it divides). */
export function payloadShape (bytes: number): { rows: number, cols: number } {
  const elements = bytes / 8
  return elements % 16 === 0 ? { rows: elements / 16, cols: 16 } : { rows: 1, cols: elements }
}

/** Rounds per batch: enough to time, short enough to interleave finely. */
function roundsPerBatch (bytes: number, quick: boolean): number {
  if (bytes <= 4 * KiB) return quick ? 6 : 25
  if (bytes <= 16 * KiB) return quick ? 5 : 15
  if (bytes <= 64 * KiB) return quick ? 4 : 10
  return quick ? 3 : 4
}

/** One forked worker and its messages, in order. */
class Child {
  readonly proc: ChildProcess
  private readonly queue: FromWorker[] = []
  private waiter: ((m: FromWorker | Error) => void) | null = null
  private stderr = ''
  private exited: Error | null = null
  readonly index: number

  constructor (index: number, transports: readonly HostTransport[]) {
    this.index = index
    this.proc = fork(WORKER_PATH, [transports.join(',')], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, DEBUG: '' } })
    this.proc.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-2000) })
    this.proc.on('message', (m: FromWorker) => {
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w(m) } else this.queue.push(m)
    })
    const gone = (why: string): void => {
      this.exited ??= new ExchangeBenchError(`bench process ${index} ${why}${this.stderr.trim() === '' ? '' : `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`}`)
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w(this.exited) }
    }
    this.proc.on('exit', (code, signal) => { gone(`exited (${signal ?? code})`) })
    this.proc.on('error', (err) => { gone(`failed: ${err.message}`) })
  }

  send (m: ToWorker): void { this.proc.send(m) }

  async next<T extends FromWorker['type']> (type: T, timeoutMs: number): Promise<Extract<FromWorker, { type: T }>> {
    const m = this.queue.shift() ?? (this.exited !== null
      ? this.exited
      : await new Promise<FromWorker | Error>(resolve => {
        const timer = setTimeout(() => { this.waiter = null; resolve(new ExchangeBenchError(`bench process ${this.index}: no '${type}' within ${timeoutMs / 1000} s`)) }, timeoutMs)
        this.waiter = (x) => { clearTimeout(timer); resolve(x) }
      }))
    if (m instanceof Error) throw m
    if (m.type === 'error') throw new ExchangeBenchError(`bench process ${this.index}: ${m.message}`)
    if (m.type !== type) throw new ExchangeBenchError(`bench process ${this.index}: expected '${type}', got '${m.type}'`)
    return m as Extract<FromWorker, { type: T }>
  }

  /** Asks it to stop (so a profile gets written), then kills it if it does not. */
  async stop (timeoutMs: number): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    try { this.send({ type: 'stop' }) } catch {}
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, timeoutMs)
    await exited
    clearTimeout(timer)
  }
}

async function all<T> (children: Child[], f: (c: Child) => Promise<T>): Promise<T[]> {
  return await Promise.all(children.map(f))
}

export async function runExchangeBench (opts: ExchangeBenchOptions): Promise<ExchangeBenchResult> {
  const out = opts.out
  const quick = opts.quick === true
  const P = opts.peers ?? 6
  const sizes = [...(opts.sizes ?? EXCHANGE_SIZES)]
  const repeats = opts.repeats ?? (quick ? 2 : 8)
  if (!Number.isInteger(P) || P < 2 || P > 32) throw new RangeError(`peers must be an integer in 2..32, got ${P}`)
  if (!Number.isInteger(repeats) || repeats < 1) throw new RangeError(`repeats must be a positive integer, got ${repeats}`)
  for (const b of sizes) if (!Number.isInteger(b) || b < 8 || b % 8 !== 0 || b > 16 * 1024 * KiB) throw new RangeError(`message size ${b} must be a multiple of 8 bytes in 8..16 MiB`)
  const hostTransports: HostTransport[] = [...(opts.transports ?? ['tcp'])]
  if (hostTransports.length === 0 || new Set(hostTransports).size !== hostTransports.length || hostTransports.some(t => !(HOST_TRANSPORTS as readonly string[]).includes(t))) {
    throw new RangeError(`transports must be distinct, from ${HOST_TRANSPORTS.join(', ')}; got ${hostTransports.join(',')}`)
  }
  const sides: BenchSide[] = opts.only === 'raw' ? ['raw'] : opts.only === 'libp2p' ? hostTransports : [...hostTransports, 'raw']
  const started = performance.now()
  const loadStart = loadavg()[0]
  const profDir = opts.cpuProfDir === undefined ? undefined : resolve(opts.cpuProfDir)
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true })
  const profFile = profDir === undefined ? undefined : join(profDir, `bench-exchange-${new Date().toISOString().replace(/[:.]/g, '-')}-p0.cpuprofile`)

  const sideName = (t: BenchSide): string => t === 'raw' ? 'raw' : `libp2p ${t}`
  out.write(`codenet bench exchange: ${P} processes, all-to-all rounds, ${sides.map(sideName).join(' vs ')}, ${repeats} batch ${sides.length === 2 ? 'pairs' : 'rounds'} per size${quick ? ' (quick)' : ''}, load average ${loadStart.toFixed(2)}\n`)
  const children = Array.from({ length: P }, (_, i) => new Child(i, hostTransports))
  // samples[size][side]: one round time (ms) per timed round.
  const samples = sizes.map(() => Object.fromEntries(sides.map(t => [t, [] as number[]])) as Partial<Record<BenchSide, number[]>>)
  const delivered = Object.fromEntries(sides.map(t => [t, { expected: 0, received: 0, verified: 0 }])) as Partial<Record<BenchSide, Delivery>>
  const nextStep = Object.fromEntries(sides.map(t => [t, 1])) as Partial<Record<BenchSide, number>>
  try {
    const hellos = await all(children, async c => await c.next('hello', 60_000))
    // Index = rank of the (first transport's) peer id, as codenet peers assign theirs.
    const rankId = (h: WorkerContact): string => h.hosts[hostTransports[0]]?.peerId ?? ''
    const order = hellos.map((h, i) => ({ h, i })).sort((a, b) => rankId(a.h) < rankId(b.h) ? -1 : rankId(a.h) > rankId(b.h) ? 1 : 0)
    const members: WorkerContact[] = order.map(({ h }) => ({ hosts: h.hosts, rawPort: h.rawPort }))
    const byIndex = order.map(({ i }) => children[i])
    byIndex.forEach((c, self) => { c.send({ type: 'setup', self, members }) })
    await all(byIndex, async c => await c.next('ready', 60_000))
    byIndex.forEach(c => { c.send({ type: 'connect' }) })
    await all(byIndex, async c => await c.next('connected', 60_000))

    const batch = async (side: BenchSide, bytes: number, rounds: number): Promise<number[]> => {
      const firstStep = nextStep[side] ?? 1
      nextStep[side] = firstStep + rounds
      byIndex.forEach(c => { c.send({ type: 'batch', side, bytes, firstStep, rounds }) })
      const done = await all(byIndex, async c => await c.next('batch-done', 300_000))
      const d = delivered[side] as Delivery
      d.expected += rounds * P * (P - 1)
      for (const x of done) { d.received += x.received; d.verified += x.verified }
      const times: number[] = []
      for (let r = 1; r < rounds; r++) times.push(Math.max(...done.map(x => x.endsMs[r] - x.endsMs[r - 1])))
      return times
    }

    // Warm-up: streams opened, windows grown, code tiered up; nothing recorded.
    for (const bytes of sizes) for (const t of sides) await batch(t, bytes, 3)
    if (profFile !== undefined) {
      byIndex[0].send({ type: 'profile-start', file: profFile })
      await byIndex[0].next('profiling', 60_000)
    }
    for (let rep = 0; rep < repeats; rep++) {
      for (let s = 0; s < sizes.length; s++) {
        // Which side goes first alternates (for three sides, the order reverses).
        const order2 = (rep + s) % 2 === 0 ? sides : [...sides].reverse()
        for (const t of order2) samples[s][t]?.push(...await batch(t, sizes[s], roundsPerBatch(sizes[s], quick)))
      }
      out.write(`  repeat ${rep + 1}/${repeats} done (load ${loadavg()[0].toFixed(2)})\n`)
    }
  } finally {
    await Promise.all(children.map(async c => { await c.stop(15_000) }))
  }

  const figures = (xs: number[] | undefined, bytes: number): TransportFigures | null => {
    if (xs === undefined || xs.length === 0) return null
    const med = median(xs)
    return { medianMs: med, p10Ms: quantile(xs, 0.1), p90Ms: quantile(xs, 0.9), roundsTimed: xs.length, mibPerSecond: P * (P - 1) * bytes / (1024 * 1024) / (med / 1000) }
  }
  const rows: ExchangeBenchRow[] = sizes.map((bytes, s) => {
    const { rows: r, cols: c } = payloadShape(bytes)
    const raw = figures(samples[s].raw, bytes)
    const target = bytes >= LARGE_FROM_BYTES ? LARGE_TARGET : SMALL_TARGET
    const byTransport = hostTransports.map((transport): TransportRow => {
      const libp2p = figures(samples[s][transport], bytes)
      const ratio = libp2p !== null && raw !== null && raw.medianMs > 0 ? libp2p.medianMs / raw.medianMs : null
      return { transport, libp2p, ratio, pass: ratio === null ? null : ratio <= target }
    })
    const first = byTransport[0]
    return { bytes, label: sizeLabel(bytes), shape: `${r}x${c} f64`, libp2p: first.libp2p, raw, ratio: first.ratio, target, pass: first.pass, byTransport }
  })
  const measured = rows.filter(r => r.pass !== null)
  const result: ExchangeBenchResult = {
    benchmark: 'exchange',
    quick,
    peers: P,
    repeats,
    transports: hostTransports,
    libp2p: `codenet host (node/peer.ts: ${hostTransports.map(t => TRANSPORT_STACK[t]).join('; ')}) with protocols/results.ts ResultExchange publish/collect`,
    raw: 'node:net sockets (noDelay), one per direction and pair, same length-prefixed frames (protocols/frame.ts) and Inbox reassembly',
    round: 'every process sends one message to each other process and waits for the P − 1 others; round time = slowest process, from its previous round complete to this one; median over timed rounds',
    rows,
    delivered: { libp2p: delivered[hostTransports[0]] ?? null, raw: delivered.raw ?? null },
    deliveredBy: delivered,
    pass: measured.length === 0 ? null : measured.every(r => r.pass === true),
    ...machineInfo(loadStart, started)
  }
  if (profFile !== undefined) {
    if (existsSync(profFile)) result.profile = { file: profFile, ...summariseCpuProfile(JSON.parse(readFileSync(profFile, 'utf8')) as CpuProfile) }
    else out.write(`process 0 wrote no CPU profile to ${profFile}\n`)
  }
  out.write(formatExchangeTable(result))
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n')
  return result
}

/** The parts of a V8 .cpuprofile the summary reads. */
export interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>
  samples: number[]
  timeDeltas: number[]
}

/** Where a script lives: node_modules/<package>, node:internal, or a path in this repository. */
function locate (url: string): { location: string, pkg: string } {
  if (url === '') return { location: '(native)', pkg: '(native/V8)' }
  if (url.startsWith('node:')) return { location: url, pkg: 'node:internal' }
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length)
    const parts = rest.split('/')
    const pkg = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
    return { location: rest, pkg }
  }
  const root = fileURLToPath(new URL('../../', import.meta.url))
  return { location: path.startsWith(root) ? path.slice(root.length) : path, pkg: 'codenet' }
}

/** Self time per function and per package (a sample's time is the delta to the next sample). */
export function summariseCpuProfile (p: CpuProfile, topN = 10): ProfileSummary {
  const byNode = new Map(p.nodes.map(n => [n.id, n]))
  const self = new Map<string, { function: string, location: string, pkg: string, us: number }>()
  let totalUs = 0; let idleUs = 0
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i + 1] ?? 0
    const node = byNode.get(p.samples[i])
    if (node === undefined) continue
    totalUs += us
    const cf = node.callFrame
    if (cf.functionName === '(idle)') { idleUs += us; continue }
    const { location, pkg } = locate(cf.url)
    const where = cf.url === '' ? location : `${location}:${cf.lineNumber + 1}`
    const key = `${cf.functionName}@${where}`
    const e = self.get(key) ?? { function: cf.functionName === '' ? '(anonymous)' : cf.functionName, location: where, pkg, us: 0 }
    e.us += us
    self.set(key, e)
  }
  const busyUs = Math.max(1, totalUs - idleUs)
  const entries = [...self.values()].sort((a, b) => b.us - a.us)
  const pkgs = new Map<string, number>()
  for (const e of entries) pkgs.set(e.pkg, (pkgs.get(e.pkg) ?? 0) + e.us)
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    top: entries.slice(0, topN).map(e => ({ function: e.function, location: e.location, selfMs: e.us / 1000, selfPercent: 100 * e.us / busyUs })),
    byPackage: [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([pkg, us]) => ({ package: pkg, selfMs: us / 1000, selfPercent: 100 * us / busyUs }))
  }
}

/** The human-readable table of a result. */
export function formatExchangeTable (res: ExchangeBenchResult): string {
  const f = (x: number | null | undefined, digits = 2): string => x === null || x === undefined ? '-' : x.toFixed(digits)
  // One column group per libp2p transport: `tcp ms`, `tcp/raw`, its verdict, `tcp MiB/s`.
  const ts = res.transports
  const verdict = (p: boolean | null): string => p === null ? '' : p ? 'PASS' : 'FAIL'
  const header = ['message', ...ts.map(t => `${t} ms`), 'raw ms', ...ts.map(t => `${t}/raw`), 'target', ...ts.map(() => ''), ...ts.map(t => `${t} MiB/s`), 'raw MiB/s', 'rounds']
  const table = res.rows.map(r => [
    r.label, ...r.byTransport.map(b => f(b.libp2p?.medianMs)), f(r.raw?.medianMs), ...r.byTransport.map(b => f(b.ratio)), `≤ ${r.target}`,
    ...r.byTransport.map(b => verdict(b.pass)), ...r.byTransport.map(b => f(b.libp2p?.mibPerSecond, 0)), f(r.raw?.mibPerSecond, 0),
    String(r.libp2p?.roundsTimed ?? r.raw?.roundsTimed ?? 0)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map(row => row[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ').trimEnd()
  const lines = [
    '',
    `median all-to-all round time, ${res.peers} processes (each sends the message to the ${res.peers - 1} others and waits for theirs)`,
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...table.map(line),
    ''
  ]
  for (const t of [...ts, 'raw'] as const) {
    const d = res.deliveredBy[t]
    if (d !== undefined) lines.push(`${t === 'raw' ? 'raw' : `libp2p ${t}`}: ${d.received}/${d.expected} messages delivered, ${d.verified} verified`)
  }
  if (res.pass !== null) {
    const each = ts.length === 1 ? '' : ` (${ts.map(t => `${t} ${verdict(res.rows.every(r => r.byTransport.find(b => b.transport === t)?.pass === true))}`).join(', ')})`
    lines.push(`targets (libp2p/raw ≤ ${SMALL_TARGET} below ${sizeLabel(LARGE_FROM_BYTES)}, ≤ ${LARGE_TARGET} from it), ${ts[0]}: ${res.pass ? 'PASS' : 'FAIL'}${each}`)
  }
  if (res.profile !== undefined) {
    const p = res.profile
    lines.push('', `CPU profile of process 0 over the timed rounds (${p.file}): ${f(p.totalMs - p.idleMs, 0)} ms busy of ${f(p.totalMs, 0)} ms; top self time:`)
    for (const e of p.top) lines.push(`  ${f(e.selfPercent, 1).padStart(5)} %  ${f(e.selfMs, 0).padStart(7)} ms  ${e.function}  ${e.location}`)
    lines.push('  by package: ' + p.byPackage.map(b => `${b.package} ${f(b.selfPercent, 1)} %`).join(', '))
  }
  lines.push(machineLine(res))
  return lines.join('\n') + '\n'
}
