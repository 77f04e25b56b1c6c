import { describe, it, expect } from 'vitest'
import { PeerViewBuilder } from './peer-source.ts'
import { peerStatusFixture, peerHealthFixture, controllerStatusFixture } from '../../protocols/testing.ts'

describe('peer dashboard', () => {
  it('draws rows and curves from a series of the peer\'s statuses', () => {
    const b = new PeerViewBuilder()
    b.add(peerStatusFixture(0, { phase: 'joining', index: -1, peers: [], step: 0, loss: null, faults: { injected: 0, detected: 0, corrected: 0, uncorrectable: 0 } }))
    expect(b.rows).toMatchObject([{ index: null, state: 'joining' }])
    expect(b.view.series).toEqual([])
    const peers = [peerHealthFixture(0, { state: 'self' }), peerHealthFixture(1, { state: 'suspect', flagged: 2 }), peerHealthFixture(2, { state: 'unreachable' })]
    b.add(peerStatusFixture(0, { peers, step: 5, faults: { injected: 1, detected: 3, corrected: 3, uncorrectable: 0 }, controller: controllerStatusFixture({ active: ['pause'], missing: [0, 4, 9] }) }))
    expect(b.phase).toBe('training')
    expect(b.rows.map(r => r.state)).toEqual(['online', 'faulty', 'offline'])
    expect(b.rows[0].faults).toMatchObject({ injected: 1, active: ['pause'] })
    expect(b.rows[2].faults).toMatchObject({ missing: 9, active: [] })
    expect(b.view).toMatchObject({ step: 5, loss: 0.5, totals: { detected: 3, corrected: 3 } })
    expect(b.view.series).toHaveLength(1)
    expect(b.view.events.map(e => e.type)).toEqual(['injected', 'detected', 'corrected'])
  })
})
