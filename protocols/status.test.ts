import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { parsePeerStatus, peerHealthSchema, controllerStatusSchema, MAX_STATUS_PEERS, type PeerStatus } from './status.ts'
import { peerStatusFixture, peerHealthFixture, controllerStatusFixture } from './testing.ts'

/** Through JSON, as it crosses the wire. */
const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

describe('peer status', () => {
  it('accepts a well-formed status, with or without the controller part', () => {
    const s = peerStatusFixture()
    expect(parsePeerStatus(wire(s))).toEqual({ ok: true, status: s })
    const { controller: _c, ...bare } = s
    expect(parsePeerStatus(wire(bare))).toEqual({ ok: true, status: bare })
    const joining = peerStatusFixture(0, { index: -1, phase: 'joining', peers: [], totalSteps: null, loss: null, trainAccuracy: null, step: 0, attempt: 0 })
    expect(parsePeerStatus(wire(joining)).ok).toBe(true)
  })

  it('keeps the field names and shape (what users and tests read)', () => {
    expect(Object.keys(peerStatusFixture()).sort()).toEqual([
      'addresses', 'attempt', 'bytes', 'controller', 'faults', 'frames', 'graceMs', 'index', 'job', 'lastCheckpoint', 'loss', 'peerId', 'peers', 'phase',
      'rejoins', 'repairs', 'restoredFrom', 'rollbacks', 'step', 'timing', 'totalSteps', 'trainAccuracy', 'verdictDisagreements'
    ])
  })

  it('a NaN loss arrives as null and is accepted', () => {
    const r = parsePeerStatus(wire({ ...peerStatusFixture(), loss: NaN }))
    expect(r.ok && r.status.loss).toBeNull()
  })

  const bad: Array<[string, (s: PeerStatus) => unknown]> = [
    ['step as a string', s => ({ ...s, step: '3' })],
    ['a negative step', s => ({ ...s, step: -3 })],
    ['an unknown phase', s => ({ ...s, phase: 'dancing' })],
    ['index below −1', s => ({ ...s, index: -2 })],
    ['no faults', s => ({ ...s, faults: undefined })],
    ['a fractional fault count', s => ({ ...s, faults: { ...s.faults, detected: 0.5 } })],
    ['a peer id that is not one', s => ({ ...s, peerId: 'me' })],
    ['peers not an array', s => ({ ...s, peers: {} })],
    ['a health entry with an unknown state', s => ({ ...s, peers: [{ ...s.peers[0], state: 'zombie' }] })],
    ['a health entry without score', s => ({ ...s, peers: [{ ...s.peers[0], score: undefined }] })],
    ['more than 256 health entries', s => ({ ...s, peers: Array.from({ length: MAX_STATUS_PEERS + 1 }, (_, j) => peerHealthFixture(j % 256)) })],
    ['a huge address list', s => ({ ...s, addresses: Array(1000).fill('/ip4/1.2.3.4/tcp/1') })],
    ['an address too long', s => ({ ...s, addresses: ['/'.repeat(2000)] })],
    ['a drop reason not a count', s => ({ ...s, frames: { ...s.frames, dropReasons: { bad: 'many' } } })],
    ['too many drop reasons', s => ({ ...s, frames: { ...s.frames, dropReasons: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`r${i}`, 1])) } })],
    ['timing without stepMs', s => ({ ...s, timing: { ...s.timing, stepMs: undefined } })],
    ['a controller with an unknown active fault', s => ({ ...s, controller: { ...s.controller, active: ['meteor'] } })],
    ['a controller with missing as numbers in strings', s => ({ ...s, controller: { ...s.controller, missing: ['1'] } })],
    ['a controller with a huge missing array', s => ({ ...s, controller: { ...s.controller, missing: Array(10_000).fill(0) } })]
  ]
  it.each(bad)('refuses a status with %s, in one line naming the field', (_what, f) => {
    const r = parsePeerStatus(wire(f(peerStatusFixture())))
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error).toMatch(/^malformed status: /)
      expect(r.error).not.toContain('\n')
    }
  })

  it('refuses what is not an object, and never throws', () => {
    for (const v of [null, undefined, 42, 'status', [peerStatusFixture()]]) expect(parsePeerStatus(v).ok).toBe(false)
    fc.assert(fc.property(fc.anything(), v => { expect(parsePeerStatus(v).ok).toBe(false) }))
    fc.assert(fc.property(fc.record({ step: fc.anything(), peers: fc.anything(), controller: fc.anything() }), patch => { parsePeerStatus({ ...peerStatusFixture(), ...patch }) }))
  })
})

describe('status parts', () => {
  it('health and controller parts accept the fixtures', () => {
    expect(peerHealthSchema.safeParse(peerHealthFixture(2, { lastResultMs: null, lastHelloMs: null, step: null, score: -3.7 })).success).toBe(true)
    expect(controllerStatusSchema.safeParse(controllerStatusFixture({
      params: {
        softError: { rate: 0.1, kind: 'bitflip', magnitude: 1, site: 'matmul', seed: 3 },
        straggler: null,
        partition: { blocked: [1, 2] },
        byzantine: { magnitude: 2, seed: 4 }
      }
    })).success).toBe(true)
    expect(controllerStatusSchema.safeParse({ ...controllerStatusFixture(), params: {} }).success).toBe(false)
  })
})
