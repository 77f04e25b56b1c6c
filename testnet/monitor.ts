/**
 * The operator's view of a running testnet as it grows poll by poll (testnet/launch.ts feeds
 * it): the peers' rows against the poll ~3 s before, the network's loss/accuracy curve, totals
 * that never go down with a timeline event for every rise, and an event for every new line of
 * the fault history. The pure pieces it uses are in testnet/snapshot.ts.
 */
import type { PeerStatus } from '../protocols/status.ts'
import { networkPoint, peerRows, totalsOf, type MonitorView, type PeerRow, type SlotInfo, type TimelineEvent } from './snapshot.ts'
import type { HistoryEntry } from './fault-history.ts'

export class Monitor {
  readonly view: MonitorView
  private readonly startedAt: number
  private recent: Array<{ t: number, statuses: Array<PeerStatus | null> }> = []
  private lastTotals: MonitorView['totals'] | null = null
  private historySeen = 0

  constructor (totalSteps: number | null, startedAt: number) {
    this.startedAt = startedAt
    this.view = { t: 0, step: 0, totalSteps, loss: null, trainAccuracy: null, testAccuracy: null, totals: { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, rollbacks: 0, repairs: 0, restarts: 0 }, series: [], accuracy: [], events: [], counts: [] }
  }

  event (e: Omit<TimelineEvent, 't' | 'step'>): void {
    this.view.events.push({ t: Date.now() - this.startedAt, step: this.view.step, ...e })
    if (this.view.events.length > 2000) this.view.events.splice(0, this.view.events.length - 2000)
  }

  /**
   * One poll's statuses (null: no answer), `t` ms after the start: the peers' rows, and unless
   * the run is `done` the curve and the totals move on.
   */
  observe (t: number, slots: readonly SlotInfo[], statuses: Array<PeerStatus | null>, restarts: number, done: boolean): PeerRow[] {
    // States compare with a poll ~3 s ago: what is happening now.
    this.recent.push({ t, statuses })
    while (this.recent.length > 1 && t - this.recent[0].t > 3500) this.recent.shift()
    const before = this.recent.length > 1 ? this.recent[0].statuses : null
    const rows = peerRows(slots, statuses, before)
    const point = networkPoint(statuses, t)
    if (point !== null && !done) {
      this.view.step = point.step
      this.view.loss = point.loss
      this.view.trainAccuracy = point.trainAccuracy
      this.view.series.push(point)
      if (this.view.series.length > 5000) this.view.series.splice(0, this.view.series.length - 5000)
    }
    this.view.t = t
    if (!done) {
      const totals = { ...totalsOf(statuses, restarts) }
      // Counters of restarted peers start again at 0: never let the network totals go down.
      if (this.lastTotals !== null) for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] = Math.max(totals[k], this.lastTotals[k])
      const prev = this.lastTotals
      if (prev !== null) {
        const diff = (k: keyof typeof totals, type: TimelineEvent['type'], what: string): void => {
          const d = totals[k] - prev[k]
          if (d > 0) this.event({ type, peer: null, count: d, detail: `${d} ${what}` })
        }
        diff('detected', 'detected', 'faults detected')
        diff('corrected', 'corrected', 'faults corrected')
        diff('uncorrectable', 'uncorrectable', 'uncorrectable rounds')
        diff('rollbacks', 'rollback', 'rollbacks')
        diff('repairs', 'repair', 'shards repaired')
      }
      if (prev === null || totals.injected > prev.injected || totals.detected > prev.detected || totals.rollbacks > prev.rollbacks) {
        const counts = this.view.counts ??= []
        counts.push({ t, step: this.view.step, injected: totals.injected, detected: totals.detected, rollbacks: totals.rollbacks })
        if (counts.length > 5000) counts.splice(0, counts.length - 5000)
      }
      this.lastTotals = totals
      this.view.totals = totals
    }
    return rows
  }

  /** An event for every entry of the fault history not seen before. */
  history (entries: readonly HistoryEntry[]): void {
    for (; this.historySeen < entries.length; this.historySeen++) {
      const e = entries[this.historySeen]
      const params = Object.entries(e.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')
      this.event({ type: e.kind === 'clear' ? 'cleared' : 'injected', peer: e.target, count: 1, detail: `${e.kind} → ${e.target === 'all' ? 'all' : `peer ${e.target}`}${params !== '' ? ` (${params})` : ''} seed ${e.seed}` })
    }
  }
}
