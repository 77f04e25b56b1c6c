/**
 * `codenet bench scaling`: how a local testnet's step grows with the number of peers and with
 * the layer width, beside what the code predicts.
 *
 *   against P       `--peers 4,6,8,12`, MNIST and the default model (784-256-128-10), batch 16
 *   against width   `--widths 128,…,2048`, synthetic data, model W-W-10, `--width-peers` (6) peers
 *
 * Every point is one `codenet testnet --error-rate 0` run (testnet/bench/testnet-run.ts): median
 * step wall time, CPU per step (all peers, and per peer), bytes sent per step (all peers, and per
 * peer). Each is shown as growth over the axis's first point, beside the expected growth with m, n
 * from the run's own code (the summary's `code`):
 *
 *   compute per peer   N²·B/(m·n)   N² = Σ_l N_in·N_out, the weights: each peer multiplies its
 *                                   shard, 1/(m·n) of each layer, by the batch
 *   traffic per peer   (P − 1)·N·B/m in the issue's terms; exactly, a peer sends every other peer
 *                                   its forward result of each layer (N_out/m × B) and its
 *                                   backward result of each later layer (N_in/n × B), float64,
 *                                   plus once per run its whole shard (Σ_l N_in·N_out/(m·n): the
 *                                   'weights' round that decodes the model), spread over the steps
 *                                   (with few steps and wide layers a large part of the bytes)
 *
 * The expected bytes are also given absolutely (`expected.bytesPerPeerStep`), beside the measured
 * ones: frame headers, audits and gossip are the difference. The expected compute counts only the
 * shard products: decoding (∝ Q·N·B), the protocol's fixed cost per message and per step, and the
 * process itself are not in it, so the measured CPU grows slower where those dominate.
 *
 * A run that fails or does not finish within `timeoutMs` (default 12 min; e.g. many peers on few
 * cores) is recorded with its `error` and no figures (null in the JSON), and the sweep goes on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { join } from 'node:path'
import { median } from '../../codes/stats.ts'
import { trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { UsageError } from '../cli.ts'
import { schemeForConfig } from '../../training/strategy.ts'
import { BenchRunError, explicitFlags, runTestnet } from './testnet-run.ts'

export const SCALING_DEFAULTS = { peers: [4, 6, 8, 12], widths: [128, 256, 512, 1024, 2048], widthPeers: 6, steps: 100, widthSteps: 40, batch: 16 } as const
export const SCALING_QUICK = { peers: [4, 5], widths: [32, 64], widthPeers: 4, steps: 12, widthSteps: 12, batch: 8 } as const
/** The P sweep's model in quick mode (the full run uses the default MNIST job). */
const QUICK_P_FLAGS = { dataset: 'synthetic', model: '64-32-10' }

export interface ScalingBenchOptions {
  out: NodeJS.WritableStream
  json?: string
  /** Write the growth plots here. */
  svg?: string
  quick?: boolean
  peers?: readonly number[]
  widths?: readonly number[]
  widthPeers?: number
  steps?: number
  widthSteps?: number
  batch?: number
  timeoutMs?: number
}

export interface Growth {
  stepMs: number
  cpuPerPeer: number
  bytesPerPeer: number
  expectedCompute: number
  expectedTraffic: number
}

export interface ScalingPoint {
  axis: 'peers' | 'width'
  peers: number
  /** The hidden width W of a W-W-10 model (null on the peers axis). */
  width: number | null
  model: number[]
  code: { scheme: string, m: number, n: number }
  batch: number
  /** Peers that wrote a summary (the CPU and bytes of all peers are sums over these). */
  peersFinished: number
  /** Median over peers. */
  attemptedSteps: number
  wallSeconds: number
  stepMsMedian: number
  stepMsP95: number
  /** All peers. */
  cpuPerStepMs: number
  cpuPerPeerStepMs: number
  bytesPerStep: number
  bytesPerPeerStep: number
  /** Per peer: what the model and code predict. */
  expected: Expected
  /** Over the axis's first point that finished. */
  growth: Growth
  /** Why this run gave no figures (they are NaN, null in the JSON), or null. */
  error: string | null
  /** Something to know about the figures (a peer that wrote no summary), or null. */
  note: string | null
}

export interface ScalingBenchResult extends MachineInfo {
  benchmark: 'scaling'
  quick: boolean
  peersAxis: ScalingPoint[]
  widthAxis: ScalingPoint[]
  svg: string | null
}

/** "128,256" → [128, 256]: distinct widths in 2..4096. */
export function parseWidthList (text: string): number[] {
  const parts = text.split(',').map(s => s.trim())
  const ws = parts.map(Number)
  if (parts.some(s => !/^\d+$/.test(s)) || ws.some(w => w < 2 || w > 4096)) throw new UsageError(`--widths must be integers in 2..4096 separated by commas (128,256,512), got '${text}'`)
  if (new Set(ws).size !== ws.length) throw new UsageError(`--widths lists a value twice: '${text}'`)
  return ws
}

export interface Expected {
  /** Multiply-adds of one peer's shard products per step (one pass; forward, backward and update each do this many). */
  computePerPeer: number
  /** float64 values one peer sends per step: forward and backward results to every other peer. */
  trafficPerPeer: number
  /** float64 values one peer sends once, at the end: its whole shard to every other peer. */
  finalRoundPerPeer: number
  /** 8 · (trafficPerPeer + finalRoundPerPeer / steps). */
  bytesPerPeerStep: number
}

/** Expected work per peer and step of `model` under an m×n code with P peers, batch B, over `steps` steps. */
export function expectedPerPeer (model: readonly number[], P: number, m: number, n: number, B: number, steps: number): Expected {
  let weights = 0; let forward = 0; let backward = 0
  for (let l = 0; l + 1 < model.length; l++) {
    weights += model[l] * model[l + 1]
    forward += model[l + 1] / m
    // The trainer computes no input gradient of the first layer.
    if (l >= 1) backward += model[l] / n
  }
  const trafficPerPeer = (P - 1) * (forward + backward) * B
  const finalRoundPerPeer = (P - 1) * weights / (m * n)
  return { computePerPeer: weights * B / (m * n), trafficPerPeer, finalRoundPerPeer, bytesPerPeerStep: 8 * (trafficPerPeer + finalRoundPerPeer / Math.max(1, steps)) }
}

export async function runScalingBench (opts: ScalingBenchOptions): Promise<ScalingBenchResult> {
  const out = opts.out
  const quick = opts.quick === true
  const d = quick ? SCALING_QUICK : SCALING_DEFAULTS
  const peers = [...(opts.peers ?? d.peers)]
  const widths = [...(opts.widths ?? d.widths)]
  const widthPeers = opts.widthPeers ?? d.widthPeers
  const steps = opts.steps ?? d.steps
  const widthSteps = opts.widthSteps ?? d.widthSteps
  const batch = opts.batch ?? d.batch
  if (peers.length === 0 && widths.length === 0) throw new UsageError('bench scaling: both axes skipped (--peers none --widths none): nothing to measure')
  const common = { batch: String(batch), 'error-rate': '0' }
  const jobs: Array<{ axis: ScalingPoint['axis'], width: number | null, flags: Record<string, string> }> = [
    ...peers.map(P => ({ axis: 'peers' as const, width: null, flags: { ...(quick ? QUICK_P_FLAGS : {}), ...common, steps: String(steps), peers: String(P) } })),
    ...widths.map(W => ({ axis: 'width' as const, width: W, flags: { dataset: 'synthetic', model: `${W}-${W}-10`, ...common, steps: String(widthSteps), peers: String(widthPeers) } }))
  ]
  // Every config checked before the first run.
  const configs = jobs.map(j => trainingConfigFromFlags(j.flags as RawTrainingFlags))
  const started = performance.now()
  const loadStart = loadavg()[0]
  const axes = [
    peers.length > 0 ? `P = ${peers.join(', ')} (${steps} steps)` : '',
    widths.length > 0 ? `widths ${widths.join(', ')} at P = ${widthPeers} (${widthSteps} steps)` : ''
  ].filter(x => x !== '').join('; ')
  out.write(`codenet bench scaling: ${axes}; batch ${batch}${quick ? ' (quick)' : ''}; load average ${loadStart.toFixed(2)}\n`)
  const points: Array<Omit<ScalingPoint, 'growth'>> = []
  for (const [i, job] of jobs.entries()) {
    const config = configs[i]
    const P = config.peers
    const label = job.axis === 'peers' ? `P=${P}` : `width ${job.width}`
    const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-scaling-'))
    let run
    try {
      run = await runTestnet({ flags: explicitFlags(config, job.flags), expect: config, dir, timeoutMs: opts.timeoutMs ?? 12 * 60_000 })
    } catch (err) {
      if (!(err instanceof BenchRunError)) throw err
      // The code the run would have used: the same choice the peers make.
      const { kind: scheme, m, n } = schemeForConfig(config)
      points.push({
        axis: job.axis, peers: P, width: job.width, model: [...config.model], code: { scheme, m, n }, batch,
        peersFinished: 0, attemptedSteps: NaN, wallSeconds: NaN, stepMsMedian: NaN, stepMsP95: NaN, cpuPerStepMs: NaN, cpuPerPeerStepMs: NaN, bytesPerStep: NaN, bytesPerPeerStep: NaN,
        expected: expectedPerPeer(config.model, P, m, n, batch, config.steps ?? 1), error: err.message, note: null
      })
      out.write(`  ${label}: no figures: ${err.message}\n`)
      continue
    }
    const s = run.summary
    // A peer that wrote no summary is missing from the sums: say so, and keep its log.
    const missing = s.peersFinished < P ? `only ${s.peersFinished} of ${P} peers wrote a summary (logs in ${dir})` : null
    if (missing === null) rmSync(dir, { recursive: true, force: true })
    const attempted = Math.max(1, median(run.peers.map(p => p.attemptedSteps)))
    const point = {
      axis: job.axis,
      peers: P,
      width: job.width,
      model: [...config.model],
      code: { scheme: s.code.scheme, m: s.code.m, n: s.code.n },
      batch,
      peersFinished: s.peersFinished,
      attemptedSteps: attempted,
      wallSeconds: run.wallSeconds,
      stepMsMedian: s.timing.stepMs.median,
      stepMsP95: s.timing.stepMs.p95,
      cpuPerStepMs: s.cpu.perStepMs,
      cpuPerPeerStepMs: s.cpu.perStepMs / s.peersFinished,
      bytesPerStep: s.bytesSent / attempted,
      bytesPerPeerStep: s.bytesSent / attempted / s.peersFinished,
      expected: expectedPerPeer(config.model, P, s.code.m, s.code.n, batch, attempted),
      error: null,
      note: missing
    }
    points.push(point)
    out.write(`  ${label}: ${run.wallSeconds.toFixed(1)} s, step ${point.stepMsMedian.toFixed(1)} ms, ${point.cpuPerPeerStepMs.toFixed(1)} ms CPU and ${(point.bytesPerPeerStep / 1000).toFixed(0)} KB per peer-step (load ${loadavg()[0].toFixed(2)})${missing !== null ? `; ${missing}` : ''}\n`)
  }
  const withGrowth = (axis: ScalingPoint['axis']): ScalingPoint[] => {
    const ps = points.filter(p => p.axis === axis)
    const b = ps.find(p => p.error === null) ?? ps[0]
    return ps.map(p => ({
      ...p,
      growth: {
        stepMs: p.stepMsMedian / b.stepMsMedian,
        cpuPerPeer: p.cpuPerPeerStepMs / b.cpuPerPeerStepMs,
        bytesPerPeer: p.bytesPerPeerStep / b.bytesPerPeerStep,
        expectedCompute: p.expected.computePerPeer / b.expected.computePerPeer,
        expectedTraffic: p.expected.bytesPerPeerStep / b.expected.bytesPerPeerStep
      }
    }))
  }
  const result: ScalingBenchResult = {
    benchmark: 'scaling',
    quick,
    peersAxis: withGrowth('peers'),
    widthAxis: withGrowth('width'),
    svg: opts.svg ?? null,
    ...machineInfo(loadStart, started)
  }
  out.write(formatScalingTable(result))
  if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`)
  if (opts.svg !== undefined) writeFileSync(opts.svg, scalingSvg(result))
  return result
}

const f = (x: number, digits = 1): string => Number.isFinite(x) ? x.toFixed(digits) : '-'

function table (title: string, first: string, points: readonly ScalingPoint[]): string[] {
  const header = [first, 'code', 'step ms', 'CPU ms/step', 'per peer', 'KB/step', 'per peer', 'expected', 'growth: step', 'CPU/peer', 'expected', 'bytes/peer', 'expected']
  const rows = points.map(p => [
    p.axis === 'peers' ? String(p.peers) : String(p.width), `${p.code.m}×${p.code.n}`, f(p.stepMsMedian), f(p.cpuPerStepMs), f(p.cpuPerPeerStepMs),
    f(p.bytesPerStep / 1000, 0), f(p.bytesPerPeerStep / 1000, 0), f(p.expected.bytesPerPeerStep / 1000, 0),
    f(p.growth.stepMs, 2), f(p.growth.cpuPerPeer, 2), f(p.growth.expectedCompute, 2), f(p.growth.bytesPerPeer, 2), f(p.growth.expectedTraffic, 2)
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map(r => r[c].length)))
  const line = (cells: string[]): string => cells.map((x, c) => c === 1 ? x.padEnd(widths[c]) : x.padStart(widths[c])).join('  ').trimEnd()
  return ['', title, line(header), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)]
}

export function formatScalingTable (res: ScalingBenchResult): string {
  const pa = res.peersAxis[0]; const wa = res.widthAxis[0]
  const lines = [
    ...(pa !== undefined ? table(`against P (model ${pa.model.join('-')}, batch ${pa.batch})`, 'P', res.peersAxis) : []),
    ...(wa !== undefined ? table(`against width (model W-W-10 on synthetic data, P = ${wa.peers}, batch ${wa.batch})`, 'W', res.widthAxis) : []),
    ...[...res.peersAxis, ...res.widthAxis].filter(p => p.error !== null || p.note !== null).map(p => `${p.axis === 'peers' ? `P = ${p.peers}` : `width ${p.width}`}: ${p.error !== null ? `no figures: ${p.error}` : p.note}`),
    '',
    'KB/step: bytes sent per step, all peers and per peer; expected: a peer\'s results, (P − 1)·B·(Σ N_out/m + Σ N_in/n) float64, and its share of the final weights round',
    'growth: over the first row; expected compute per peer N²·B/(m·n) (m, n from the run\'s code), expected traffic as above',
    ...(res.svg !== null ? [`plots: ${res.svg}`] : []),
    machineLine(res)
  ]
  return lines.join('\n') + '\n'
}

const esc = (s: string): string => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)

interface Series { name: string, color: string, dashed: boolean, key: keyof Growth }
const SERIES: Series[] = [
  { name: 'step time', color: '#0366d6', dashed: false, key: 'stepMs' },
  { name: 'CPU per peer-step', color: '#d73a49', dashed: false, key: 'cpuPerPeer' },
  { name: 'expected compute', color: '#d73a49', dashed: true, key: 'expectedCompute' },
  { name: 'bytes per peer-step', color: '#28a745', dashed: false, key: 'bytesPerPeer' },
  { name: 'expected traffic', color: '#28a745', dashed: true, key: 'expectedTraffic' }
]

/** One panel: growth (log₂ y) against P (linear) or width (log₂ x), at horizontal offset `ox`. */
function panel (ox: number, title: string, xLabel: string, points: readonly ScalingPoint[], xOf: (p: ScalingPoint) => number, logX: boolean): string[] {
  const W = 460; const H = 340; const L = 52; const R = 14; const T = 40; const B = 44
  if (points.length === 0) return [`<text x="${ox + W / 2}" y="${H / 2}" text-anchor="middle">${esc(title)}: no points</text>`]
  const tx = (v: number): number => logX ? Math.log2(v) : v
  const xs = points.map(p => tx(xOf(p)))
  const x0 = Math.min(...xs); const x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs)
  const gs = points.flatMap(p => SERIES.map(s => p.growth[s.key])).filter(v => Number.isFinite(v) && v > 0)
  const y0 = Math.floor(Math.log2(Math.min(1, ...gs))); const y1 = Math.max(y0 + 1, Math.ceil(Math.log2(Math.max(1, ...gs))))
  const X = (v: number): number => ox + L + (W - L - R) * (tx(v) - x0) / (x1 - x0)
  const Y = (g: number): number => H - B - (H - B - T) * (Math.log2(g) - y0) / (y1 - y0)
  const o: string[] = [`<text x="${ox + W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`]
  const step = Math.max(1, Math.ceil((y1 - y0) / 6))
  for (let e = y0; e <= y1; e += step) {
    const g = 2 ** e
    o.push(`<line x1="${ox + L}" x2="${ox + W - R}" y1="${Y(g).toFixed(1)}" y2="${Y(g).toFixed(1)}" stroke="#e1e4e8"/>`, `<text x="${ox + L - 6}" y="${(Y(g) + 4).toFixed(1)}" text-anchor="end">${g >= 1 ? `${g}×` : `1/${1 / g}×`}</text>`)
  }
  for (const p of points) {
    o.push(`<text x="${X(xOf(p)).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${xOf(p)}</text>`)
    if (p.error !== null) o.push(`<text class="failed" x="${X(xOf(p)).toFixed(1)}" y="${H - B - 6}" text-anchor="middle" fill="#6a737d">no figures<title>${esc(p.error)}</title></text>`)
  }
  o.push(`<text x="${ox + (L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`)
  o.push(`<text x="${ox + 14}" y="${(T + H - B) / 2}" transform="rotate(-90 ${ox + 14} ${(T + H - B) / 2})" text-anchor="middle">growth over the first point</text>`)
  for (const s of SERIES) {
    const pts = points.filter(p => Number.isFinite(p.growth[s.key]) && p.growth[s.key] > 0).map(p => `${X(xOf(p)).toFixed(1)},${Y(p.growth[s.key]).toFixed(1)}`)
    if (pts.length > 1) o.push(`<polyline class="${s.key}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`)
    if (!s.dashed) for (const q of pts) { const [cx, cy] = q.split(','); o.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`) }
  }
  return o
}

/** Both axes side by side, log scales, measured lines solid, expectations dashed. */
export function scalingSvg (res: ScalingBenchResult): string {
  const W = 940; const H = 380
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...panel(0, `against P${res.peersAxis.length > 0 ? ` (${res.peersAxis[0].model.join('-')})` : ''}`, 'peers P', res.peersAxis, p => p.peers, false),
    ...panel(470, `against width${res.widthAxis.length > 0 ? ` (W-W-10, P = ${res.widthAxis[0].peers})` : ''}`, 'width W (log scale)', res.widthAxis, p => p.width ?? 0, true)
  ]
  SERIES.forEach((s, i) => {
    const lx = 60 + i * 170
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${H - 8}" y2="${H - 8}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${lx + 27}" y="${H - 4}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
