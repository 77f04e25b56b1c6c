/**
 * What an operator sees of a testnet, computed from the peers' control-protocol status documents
 * (`PeerStatus`, protocols/status.ts: built by node/status.ts, with the fault controller's part
 * under `controller`; statuses from the wire were validated by the control client):
 *
 *   peerRows       one row per peer: state online | joining | straggling | faulty | offline, step,
 *                  last result, faults. A peer's health is what the *others* saw of it (the
 *                  median over observers), compared with an earlier poll so the state says what is
 *                  happening now rather than what ever happened
 *   networkPoint   one point of the loss/accuracy curves (medians over the peers)
 *   aggregate      the testnet summary JSON (docs/design.md §Summary JSON) from the peers' summaries
 *
 * Pure functions: the launcher, `codenet status` and the dashboard share them.
 */
import type { PeerSummary } from '../node/engine.ts'
import type { PeerStatus } from '../protocols/status.ts'
import { median } from '../codes/stats.ts'

export type PeerState = 'online' | 'joining' | 'straggling' | 'faulty' | 'offline'

export interface PeerRow {
  slot: number | null
  index: number | null
  peerId: string | null
  address: string | null
  state: PeerState
  phase: string | null
  step: number | null
  totalSteps: number | null
  /** ms since the others last received a result from it (median over observers). */
  lastResultMs: number | null
  loss: number | null
  trainAccuracy: number | null
  faults: {
    /** Faults this peer injected into its own work (engine + fault controller). */
    injected: number
    /** Agreed verdicts that named it, as the others counted (median). */
    flagged: number
    repaired: number
    /** Rounds that ended without its result (median over observers). */
    missing: number
    /** Malformed frames the others dropped from it (sum). */
    framesDropped: number
    /** Faults currently switched on in it (`codenet fault …`). */
    active: string[]
  }
  restarts: number
}

export interface TimelineEvent {
  /** ms since the testnet started */
  t: number
  step: number | null
  type: 'injected' | 'cleared' | 'detected' | 'corrected' | 'uncorrectable' | 'rollback' | 'repair' | 'crash' | 'restart' | 'exit'
  peer: number | 'all' | null
  count: number
  detail: string
}

export interface SeriesPoint {
  t: number
  step: number
  loss: number | null
  trainAccuracy: number | null
}

export interface AccuracyPoint {
  t: number
  step: number
  testAccuracy: number
}

export interface Totals {
  injected: number
  detected: number
  corrected: number
  uncorrectable: number
  rollbacks: number
  repairs: number
  restarts: number
}

export interface MonitorView {
  t: number
  step: number
  totalSteps: number | null
  loss: number | null
  trainAccuracy: number | null
  testAccuracy: number | null
  totals: Totals
  series: SeriesPoint[]
  accuracy: AccuracyPoint[]
  events: TimelineEvent[]
  /**
   * The network totals at every poll where one of them rose (cumulative). Unlike `events`
   * (the last 2,000, for the timeline) it keeps a whole run: what `traceOf` counts from.
   */
  counts?: CountPoint[]
}

export interface CountPoint {
  t: number
  step: number
  injected: number
  detected: number
  rollbacks: number
}

/** The median of the finite values of `xs`; null when there are none. */
function finiteMedian (xs: readonly number[]): number | null {
  const f = xs.filter(x => Number.isFinite(x))
  return f.length === 0 ? null : median(f)
}

/** What the other peers' statuses say about peer `index`. */
function observed (index: number, statuses: ReadonlyArray<PeerStatus | null>): { flagged: number, repaired: number, missing: number, framesDropped: number, lastResultMs: number | null, suspect: number, observers: number } {
  const flagged: number[] = []; const repaired: number[] = []; const missing: number[] = []; const last: number[] = []
  let framesDropped = 0; let suspect = 0; let observers = 0
  for (const s of statuses) {
    if (s === null || s.index === index) continue
    const h = s.peers[index]
    if (h === undefined) continue
    observers++
    flagged.push(h.flagged)
    repaired.push(h.repaired)
    framesDropped += h.framesDropped
    if (h.lastResultMs !== null) last.push(h.lastResultMs)
    if (h.state === 'suspect') suspect++
    const m = s.controller?.missing[index]
    if (m !== undefined) missing.push(m)
  }
  return {
    flagged: finiteMedian(flagged) ?? 0,
    repaired: finiteMedian(repaired) ?? 0,
    missing: finiteMedian(missing) ?? 0,
    framesDropped,
    lastResultMs: finiteMedian(last),
    suspect,
    observers
  }
}

export interface SlotInfo {
  slot: number
  peerId: string | null
  address: string | null
  restarts: number
  index?: number | null
}

/**
 * Rows for the peers. `statuses[k]` is slot k's answer (null: no answer); `before` an earlier
 * poll of the same slots (null: none), from which the states judge what changed.
 */
export function peerRows (slots: readonly SlotInfo[], statuses: ReadonlyArray<PeerStatus | null>, before: ReadonlyArray<PeerStatus | null> | null): PeerRow[] {
  const med = finiteMedian(statuses.filter((s): s is PeerStatus => s !== null && s.phase === 'training').map(s => s.step))
  return slots.map((slot, k) => {
    const s = statuses[k] ?? null
    const index = s !== null && s.index >= 0 ? s.index : (slot.index ?? null)
    const obs = index === null ? null : observed(index, statuses)
    const prev = index === null || before === null ? null : observed(index, before)
    const active: string[] = s?.controller?.active ?? []
    let state: PeerState
    if (s === null) state = 'offline'
    else if (s.phase === 'starting' || s.phase === 'joining') state = 'joining'
    else {
      const newlyFlagged = obs !== null && prev !== null && prev.observers > 0 ? obs.flagged - prev.flagged : null
      const newlyDropped = obs !== null && prev !== null ? obs.framesDropped - prev.framesDropped : 0
      const faulty = newlyFlagged !== null ? newlyFlagged > 0 || newlyDropped > 0 : obs !== null && obs.observers > 0 && obs.suspect * 2 > obs.observers
      const newlyMissing = obs !== null && prev !== null && prev.observers > 0 ? obs.missing - prev.missing : 0
      const behind = med !== null && s.phase === 'training' && s.step < med - 2
      const straggling = behind || newlyMissing >= 5 || active.includes('pause') || active.includes('straggler')
      state = faulty ? 'faulty' : straggling ? 'straggling' : 'online'
    }
    return {
      slot: slot.slot,
      index,
      peerId: s?.peerId ?? slot.peerId,
      address: slot.address,
      state,
      phase: s?.phase ?? null,
      step: s?.step ?? null,
      totalSteps: s?.totalSteps ?? null,
      lastResultMs: obs?.lastResultMs ?? null,
      loss: s?.loss ?? null,
      trainAccuracy: s?.trainAccuracy ?? null,
      faults: {
        injected: s?.faults.injected ?? 0,
        flagged: obs?.flagged ?? 0,
        repaired: obs?.repaired ?? 0,
        missing: obs?.missing ?? 0,
        framesDropped: obs?.framesDropped ?? 0,
        active
      },
      restarts: slot.restarts
    }
  })
}

/** Network totals from live statuses: own injections add up; detections are the best-informed peer's. */
export function totalsOf (statuses: ReadonlyArray<PeerStatus | null>, restarts: number): Totals {
  const live = statuses.filter((s): s is PeerStatus => s !== null)
  const max = (f: (s: PeerStatus) => number): number => Math.max(0, ...live.map(f))
  return {
    injected: live.reduce((a, s) => a + s.faults.injected, 0),
    detected: max(s => s.faults.detected),
    corrected: max(s => s.faults.corrected),
    uncorrectable: max(s => s.faults.uncorrectable),
    rollbacks: max(s => s.rollbacks),
    repairs: max(s => s.repairs),
    restarts
  }
}

/** Network position and curves from live statuses (medians over training peers). */
export function networkPoint (statuses: ReadonlyArray<PeerStatus | null>, t: number): SeriesPoint | null {
  const live = statuses.filter((s): s is PeerStatus => s !== null && (s.phase === 'training' || s.phase === 'finishing' || s.phase === 'done'))
  if (live.length === 0) return null
  return {
    t,
    // A step (an integer): the lower median, which at least half of the peers have reached.
    step: Math.floor(finiteMedian(live.map(s => s.step)) ?? 0),
    loss: finiteMedian(live.map(s => s.loss ?? NaN)),
    trainAccuracy: finiteMedian(live.map(s => s.trainAccuracy ?? NaN))
  }
}

/**
 * The run over time, as the launcher saw it (in `--json` only): the network's step at each poll,
 * the test accuracy of each verified checkpoint it scored, and the rollbacks it counted, all in
 * ms since the start. What `bench paper` plots.
 */
export interface TestnetTrace {
  steps: Array<{ t: number, step: number }>
  accuracy: AccuracyPoint[]
  rollbacks: Array<{ t: number, step: number | null, count: number }>
  /** Soft errors the peers injected into their own work, and faults the network detected: how many, when. */
  faults?: { injected: Array<{ t: number, step: number | null, count: number }>, detected: Array<{ t: number, step: number | null, count: number }> }
}

/**
 * The trace of a monitor view: rollbacks and faults from the per-poll totals (`counts`), so a
 * long run keeps its early ones; from the timeline events for a view written without them.
 */
export function traceOf (view: MonitorView): TestnetTrace {
  const counts = view.counts
  const rises = (k: 'rollbacks' | 'injected' | 'detected'): Array<{ t: number, step: number | null, count: number }> => {
    if (counts === undefined) {
      const type = k === 'rollbacks' ? 'rollback' : k
      return view.events.filter(e => e.type === type && e.peer === null).map(e => ({ t: e.t, step: e.step, count: e.count }))
    }
    const out: Array<{ t: number, step: number | null, count: number }> = []
    let prev = 0
    for (const c of counts) {
      if (c[k] > prev) out.push({ t: c.t, step: c.step, count: c[k] - prev })
      prev = Math.max(prev, c[k])
    }
    return out
  }
  return {
    steps: view.series.map(p => ({ t: p.t, step: p.step })),
    accuracy: view.accuracy.map(a => ({ ...a })),
    rollbacks: rises('rollbacks'),
    faults: { injected: rises('injected'), detected: rises('detected') }
  }
}

export interface TestnetSummary {
  strategy: string
  peers: number
  code: PeerSummary['code']
  steps: number
  epochs: number
  wallSeconds: number
  testAccuracy: number
  trainLoss: number
  faults: { injected: number, detected: number, corrected: number, uncorrectable: number, silent: null }
  rollbacks: number
  repairs: number
  timing: PeerSummary['timing']
  bytesSent: number
  /** CPU of all peers together (sums): per step, and maths vs protocol (node/run-tally.ts PeerCpu). */
  cpu: { totalS: number, mathsS: number, protocolS: number, perStepMs: number }
  /** Extra for the testnet. */
  peersFinished: number
  /** Processes the peers ran in (`--processes`: P, or fewer `codenet host`s). */
  processes?: number
  restarts: number
  faultsInjectedByCommand: number
  perPeer: Array<{ self: number, peerId: string, testAccuracy: number, trainLoss: number, detected: number, corrected: number, rollbacks: number, repairs: number, rejoins: number, restoredFrom: number | null, wallSeconds: number }>
}

/**
 * The testnet summary from the peers' own summaries: injected faults and bytes add up over the
 * peers; detections, rollbacks and repairs are network events every peer sees, so the summary
 * takes the best-informed peer's count (a restarted peer's counters start again at 0); accuracy,
 * loss and timings are medians (every peer decodes the same model).
 */
export function aggregate (summaries: readonly PeerSummary[], extra: { wallSeconds: number, restarts: number, faultsInjectedByCommand: number, processes?: number }): TestnetSummary {
  if (summaries.length === 0) throw new Error('no peer finished: no summary to aggregate')
  const first = summaries[0]
  const med = (f: (s: PeerSummary) => number): number => finiteMedian(summaries.map(f)) ?? NaN
  const max = (f: (s: PeerSummary) => number): number => Math.max(...summaries.map(f))
  return {
    strategy: first.strategy,
    peers: first.peers,
    code: first.code,
    steps: first.steps,
    epochs: first.epochs,
    wallSeconds: extra.wallSeconds,
    testAccuracy: med(s => s.testAccuracy),
    trainLoss: med(s => s.trainLoss),
    faults: {
      injected: summaries.reduce((a, s) => a + s.faults.injected, 0),
      detected: max(s => s.faults.detected),
      corrected: max(s => s.faults.corrected),
      uncorrectable: max(s => s.faults.uncorrectable),
      silent: null
    },
    rollbacks: max(s => s.rollbacks),
    repairs: max(s => s.repairs),
    timing: {
      computeS: med(s => s.timing.computeS),
      encodeS: med(s => s.timing.encodeS),
      decodeS: med(s => s.timing.decodeS),
      waitS: med(s => s.timing.waitS),
      stepMs: { median: med(s => s.timing.stepMs.median), p95: med(s => s.timing.stepMs.p95) }
    },
    bytesSent: summaries.reduce((a, s) => a + s.bytesSent, 0),
    cpu: {
      totalS: summaries.reduce((a, s) => a + s.cpu.totalS, 0),
      mathsS: summaries.reduce((a, s) => a + s.cpu.mathsS, 0),
      protocolS: summaries.reduce((a, s) => a + s.cpu.protocolS, 0),
      perStepMs: summaries.reduce((a, s) => a + s.cpu.perStepMs, 0)
    },
    peersFinished: summaries.length,
    ...(extra.processes !== undefined ? { processes: extra.processes } : {}),
    restarts: extra.restarts,
    faultsInjectedByCommand: extra.faultsInjectedByCommand,
    perPeer: summaries.map(s => ({
      self: s.self, peerId: s.peerId, testAccuracy: s.testAccuracy, trainLoss: s.trainLoss, detected: s.faults.detected, corrected: s.faults.corrected,
      rollbacks: s.rollbacks, repairs: s.repairs, rejoins: s.rejoins, restoredFrom: s.restoredFrom, wallSeconds: s.wallSeconds
    })).sort((a, b) => a.self - b.self)
  }
}

const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)
const fmt = (v: number | null, d = 4): string => v === null ? '-' : v.toFixed(d)

/** The status table (plain text). */
export function formatRows (rows: readonly PeerRow[]): string {
  const head = ['idx', 'peer id', 'address', 'state', 'step', 'last result', 'loss', 'faults']
  const order = (r: PeerRow): number => r.index ?? 1000 + (r.slot ?? 0)
  const lines = [...rows].sort((a, b) => order(a) - order(b)).map(r => {
    const f = r.faults
    const faults = [
      f.injected > 0 ? `inj ${f.injected}` : '', f.flagged > 0 ? `flagged ${f.flagged}` : '', f.repaired > 0 ? `repaired ${f.repaired}` : '',
      f.missing > 0 ? `missing ${f.missing}` : '', f.framesDropped > 0 ? `bad frames ${f.framesDropped}` : '',
      r.restarts > 0 ? `restarts ${r.restarts}` : '', f.active.length > 0 ? `[${f.active.join(',')}]` : ''
    ].filter(x => x !== '').join(' ')
    return [
      r.index === null ? `s${r.slot ?? '?'}` : String(r.index),
      r.peerId === null ? '-' : `${r.peerId.slice(0, 6)}…${r.peerId.slice(-6)}`,
      r.address?.replace(/\/p2p\/.*$/, '') ?? '-',
      r.state,
      r.step === null ? '-' : `${r.step}${r.totalSteps !== null ? `/${r.totalSteps}` : ''}`,
      r.lastResultMs === null ? '-' : `${(r.lastResultMs / 1000).toFixed(1)} s ago`,
      fmt(r.loss),
      faults === '' ? '-' : faults
    ]
  })
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)))
  return [head, ...lines].map(l => l.map((c, i) => pad(c, widths[i])).join('  ').trimEnd()).join('\n')
}
