import { describe, it, expect } from 'vitest'
import { aggregate, peerRows, totalsOf, formatRows, networkPoint, traceOf } from './snapshot.ts'
import { Monitor } from './monitor.ts'
import type { PeerSummary } from '../node/engine.ts'
import type { PeerStatus } from '../protocols/status.ts'
import { peerStatusFixture, peerHealthFixture, controllerStatusFixture } from '../protocols/testing.ts'

/** A status of peer `index` seeing `health[j]` for every peer. */
function st (index: number, step: number, health: Array<Partial<{ flagged: number, state: 'healthy' | 'suspect', missing: number, framesDropped: number }>>, extra: Partial<PeerStatus> = {}): PeerStatus {
  return peerStatusFixture(index, {
    peerId: `12D3KooWPeer${index}AAAAAAAAAAAAAAAAAAAA`, step,
    faults: { injected: 1, detected: 2, corrected: 2, uncorrectable: 0 }, rollbacks: 0, repairs: 0,
    peers: health.map((h, j) => peerHealthFixture(j, { flagged: h.flagged ?? 0, repaired: 0, framesDropped: h.framesDropped ?? 0, lastResultMs: 10, state: j === index ? 'self' : (h.state ?? 'healthy') })),
    controller: controllerStatusFixture({ active: [], missing: health.map(h => h.missing ?? 0) }),
    ...extra
  })
}
const slots = [0, 1, 2, 3].map(k => ({ slot: k, peerId: null, address: null, restarts: 0 }))

describe('peer rows', () => {
  it('judge each peer by what the others saw change since the earlier poll', () => {
    const h0 = [{}, {}, {}, {}]
    const before = [st(0, 10, h0), st(1, 10, h0), st(2, 10, h0), st(3, 10, h0)]
    const h1 = [{}, { flagged: 3 }, { missing: 9 }, {}]
    const now = [st(0, 20, h1), st(1, 20, h1), st(2, 20, h1), null]
    const rows = peerRows(slots, now, before)
    expect(rows.map(r => r.state)).toEqual(['online', 'faulty', 'straggling', 'offline'])
    expect(rows[1].faults.flagged).toBe(3)
    expect(rows[2].faults.missing).toBe(9)
    // Nothing new since: the flagged peer is online again.
    expect(peerRows(slots, now, now).map(r => r.state)).toEqual(['online', 'online', 'online', 'offline'])
  })
  it('a peer far behind is straggling; a joining peer is joining', () => {
    const h = [{}, {}, {}, {}]
    const now = [st(0, 50, h), st(1, 50, h), st(2, 40, h), st(3, 0, h, { phase: 'joining', index: -1 })]
    expect(peerRows(slots, now, now).map(r => r.state)).toEqual(['online', 'online', 'straggling', 'joining'])
  })
  it('totals add up injections and take the best-informed peer for the rest', () => {
    const h = [{}, {}]
    expect(totalsOf([st(0, 1, h), st(1, 1, h, { faults: { injected: 4, detected: 7, corrected: 6, uncorrectable: 1 } }), null], 2))
      .toEqual({ injected: 5, detected: 7, corrected: 6, uncorrectable: 1, rollbacks: 0, repairs: 0, restarts: 2 })
    expect(formatRows(peerRows(slots.slice(0, 2), [st(0, 1, h), null], null))).toMatch(/offline/)
  })
})

describe('network point', () => {
  it('medians over the training peers, ignoring missing losses; null when there is none', () => {
    const h = [{}, {}, {}]
    expect(networkPoint([st(0, 10, h, { loss: 1 }), st(1, 12, h, { loss: null }), st(2, 14, h, { loss: 3 }), null], 5))
      .toEqual({ t: 5, step: 12, loss: 2, trainAccuracy: 0.8 })
    expect(networkPoint([st(0, 10, h, { loss: null, trainAccuracy: null })], 5)).toEqual({ t: 5, step: 10, loss: null, trainAccuracy: null })
    expect(networkPoint([st(0, 10, h, { phase: 'joining' }), null], 5)).toBeNull()
  })
})

describe('aggregate', () => {
  const s = (self: number, acc: number, detected: number): PeerSummary => ({
    strategy: 'codenet', peers: 3, code: { scheme: 'polydot', m: 1, n: 1, recoveryThreshold: { forward: 1, backward: 1 } }, steps: 10, epochs: 1,
    wallSeconds: 5, testAccuracy: acc, trainLoss: 0.1, faults: { injected: 1, detected, corrected: detected, uncorrectable: 0, silent: null }, rollbacks: self, repairs: 0,
    timing: { computeS: 1, encodeS: 1, decodeS: 1, waitS: 1, stepMs: { median: 10, p95: 20 } }, bytesSent: 100, self, peerId: `p${self}`, job: 'j', restoredFrom: null,
    rejoins: 0, attemptedSteps: 10, framesDropped: 0, verdictDisagreements: 0, cpu: { totalS: 4, mathsS: 3, protocolS: 1, perStepMs: 400, sharedBy: 1 }
  })
  it('sums injections and bytes, takes the max of detections and the median accuracy', () => {
    const a = aggregate([s(2, 0.9, 3), s(0, 0.95, 5), s(1, 0.97, 4)], { wallSeconds: 9, restarts: 1, faultsInjectedByCommand: 2 })
    expect(a).toMatchObject({ testAccuracy: 0.95, faults: { injected: 3, detected: 5, corrected: 5, silent: null }, rollbacks: 2, bytesSent: 300, wallSeconds: 9, peersFinished: 3, restarts: 1 })
    expect(a.perPeer.map(p => p.self)).toEqual([0, 1, 2])
    expect(() => aggregate([], { wallSeconds: 0, restarts: 0, faultsInjectedByCommand: 0 })).toThrow(/no peer/)
  })
})

describe('the run\'s trace', () => {
  it('counts rollbacks and faults from the per-poll totals, however many timeline events were dropped', () => {
    const h = [{}, {}]
    const m = new Monitor(100, Date.now())
    const poll = (t: number, step: number, injected: number, detected: number, rollbacks: number): void => {
      m.observe(t, slots.slice(0, 2), [st(0, step, h, { faults: { injected, detected, corrected: detected, uncorrectable: 0 }, rollbacks }), st(1, step, h, { faults: { injected: 0, detected, corrected: detected, uncorrectable: 0 }, rollbacks })], 0, false)
    }
    poll(1000, 5, 0, 0, 0)
    poll(2000, 10, 3, 2, 1)
    poll(3000, 12, 3, 2, 1)
    poll(4000, 8, 4, 4, 3)
    // The timeline keeps only its last 2,000 events: the trace does not depend on them.
    m.view.events.splice(0)
    const tr = traceOf(m.view)
    expect(tr.rollbacks).toEqual([{ t: 2000, step: 10, count: 1 }, { t: 4000, step: 8, count: 2 }])
    expect(tr.faults?.injected).toEqual([{ t: 2000, step: 10, count: 3 }, { t: 4000, step: 8, count: 1 }])
    expect(tr.faults?.detected).toEqual([{ t: 2000, step: 10, count: 2 }, { t: 4000, step: 8, count: 2 }])
    expect(tr.steps.map(p => p.step)).toEqual([5, 10, 12, 8])
  })

  it('falls back to the network\'s timeline events for a view written without totals', () => {
    const tr = traceOf({ t: 0, step: 0, totalSteps: null, loss: null, trainAccuracy: null, testAccuracy: null, totals: { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, rollbacks: 0, repairs: 0, restarts: 0 }, series: [], accuracy: [], events: [
      { t: 5, step: 1, type: 'rollback', peer: null, count: 2, detail: '' },
      { t: 6, step: 1, type: 'injected', peer: 3, count: 1, detail: 'a fault command' },
      { t: 7, step: 2, type: 'detected', peer: null, count: 4, detail: '' }
    ] })
    expect(tr.rollbacks).toEqual([{ t: 5, step: 1, count: 2 }])
    expect(tr.faults).toEqual({ injected: [], detected: [{ t: 7, step: 2, count: 4 }] })
  })
})
