/**
 * `codenet peer --dashboard PORT`: the dashboard of one peer, drawn from what that peer knows
 * (its engine status: its own step and loss, and its health view of every other member).
 */
import type { PeerEngine } from '../../node/engine.ts'
import type { MonitorView, PeerRow, PeerState, TimelineEvent } from '../snapshot.ts'
import type { PeerHealth, PeerStatus } from '../../protocols/status.ts'
import { startDashboard, type Dashboard } from './server.ts'

const stateOf = (h: PeerHealth, phase: PeerStatus['phase']): PeerState => {
  switch (h.state) {
    case 'self': return phase === 'training' || phase === 'finishing' || phase === 'done' ? 'online' : 'joining'
    case 'suspect': return 'faulty'
    case 'unreachable': return 'offline'
    default: return 'online'
  }
}

/** Rows and curves from a series of one peer's status documents. */
export class PeerViewBuilder {
  private readonly started = Date.now()
  readonly view: MonitorView = { t: 0, step: 0, totalSteps: null, loss: null, trainAccuracy: null, testAccuracy: null, totals: { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, rollbacks: 0, repairs: 0, restarts: 0 }, series: [], accuracy: [], events: [] }
  rows: PeerRow[] = []
  phase = 'starting'

  add (st: PeerStatus): void {
    const t = Date.now() - this.started
    const v = this.view
    this.phase = st.phase
    const prev = { ...v.totals }
    v.t = t
    v.step = st.step
    v.totalSteps = st.totalSteps
    v.loss = st.loss
    v.trainAccuracy = st.trainAccuracy
    v.totals = { injected: st.faults.injected, detected: st.faults.detected, corrected: st.faults.corrected, uncorrectable: st.faults.uncorrectable, rollbacks: st.rollbacks, repairs: st.repairs, restarts: 0 }
    const ev = (k: keyof MonitorView['totals'], type: TimelineEvent['type']): void => {
      const d = v.totals[k] - prev[k]
      if (d > 0) v.events.push({ t, step: v.step, type, peer: null, count: d, detail: `${d} ${k}` })
    }
    ev('injected', 'injected'); ev('detected', 'detected'); ev('corrected', 'corrected'); ev('uncorrectable', 'uncorrectable'); ev('rollbacks', 'rollback'); ev('repairs', 'repair')
    if (v.events.length > 2000) v.events.splice(0, v.events.length - 2000)
    if (st.phase === 'training' || st.phase === 'finishing' || st.phase === 'done') {
      v.series.push({ t, step: v.step, loss: v.loss, trainAccuracy: v.trainAccuracy })
      if (v.series.length > 5000) v.series.splice(0, v.series.length - 5000)
    }
    const active: string[] = st.controller?.active ?? []
    const address = st.addresses[0] ?? null
    this.rows = st.peers.length === 0
      ? [{ slot: null, index: st.index >= 0 ? st.index : null, peerId: st.peerId, address, state: 'joining', phase: st.phase, step: st.step, totalSteps: st.totalSteps, lastResultMs: null, loss: st.loss, trainAccuracy: st.trainAccuracy, faults: { injected: st.faults.injected, flagged: 0, repaired: 0, missing: 0, framesDropped: 0, active }, restarts: 0 }]
      : st.peers.map(h => ({
        slot: null,
        index: h.index,
        peerId: h.peerId,
        address: h.state === 'self' ? address : null,
        state: stateOf(h, st.phase),
        phase: h.state === 'self' ? st.phase : null,
        step: h.step,
        totalSteps: st.totalSteps,
        lastResultMs: h.lastResultMs,
        loss: h.state === 'self' ? st.loss : null,
        trainAccuracy: h.state === 'self' ? st.trainAccuracy : null,
        faults: { injected: h.state === 'self' ? st.faults.injected : 0, flagged: h.flagged, repaired: h.repaired, missing: st.controller?.missing[h.index] ?? 0, framesDropped: h.framesDropped, active: h.state === 'self' ? active : [] },
        restarts: 0
      }))
  }
}

export async function startPeerDashboard (engine: PeerEngine, port: number): Promise<Dashboard> {
  const b = new PeerViewBuilder()
  const tick = (): void => { try { b.add(engine.status()) } catch {} }
  tick()
  const timer = setInterval(tick, 1000)
  const d = await startDashboard({ port, snapshot: () => ({ phase: b.phase, peers: b.rows, view: b.view }) })
  return { ...d, close: async () => { clearInterval(timer); await d.close() } }
}
