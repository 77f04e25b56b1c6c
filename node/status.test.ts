import { describe, it, expect } from 'vitest'
import { peerHealth, peerStatus, UNREACHABLE_AFTER_MS, type StatusInput } from './status.ts'
import { parsePeerStatus } from '../protocols/status.ts'
import { PEER_IDS, JOB_HASH, controllerStatusFixture } from '../protocols/testing.ts'

const now = 1_000_000
const health = (over: Partial<Parameters<typeof peerHealth>[0]> = {}) => peerHealth({
  members: [...PEER_IDS],
  self: 0,
  helloOf: p => p === PEER_IDS[1] ? { at: now - 100, step: 7, done: false } : p === PEER_IDS[2] ? { at: now - UNREACHABLE_AFTER_MS - 1, step: 5, done: false } : undefined,
  links: [{ score: 0, framesDropped: 0, lastSeenMs: null }, { score: -0.5, framesDropped: 1, lastSeenMs: 20 }, { score: 0, framesDropped: 0, lastSeenMs: 9000 }],
  flagged: [],
  repaired: [],
  selfStep: 8,
  now,
  ...over
})

function input (over: Partial<StatusInput> = {}): StatusInput {
  return {
    job: JOB_HASH, peerId: PEER_IDS[0], index: 0, phase: 'training', addresses: ['/ip4/127.0.0.1/tcp/4001'],
    trainer: { step: 8, totalSteps: 100, attempt: 1 },
    losses: [0.9, 0.7], correct: [0.5, 1],
    counters: { detected: 3, corrected: 2, uncorrectable: 1 }, injected: 4,
    rollbacks: 1, repairs: 2, rejoins: 0, restoredFrom: null, lastCheckpoint: 5, verdictDisagreements: 0,
    peers: health(),
    timing: { computeMs: 1500, encodeMs: 10, decodeMs: 20, waitMs: 30 }, stepMs: [10, 20, 30, 40],
    exchange: { bytesSent: 1, bytesReceived: 2, framesSent: 3, framesReceived: 4, framesDropped: 1, dropReasons: { 'bad-magic': 1 }, graceMs: { forward: 12 } },
    ...over
  }
}

describe('peer health', () => {
  it('says self, healthy, unreachable, suspect and done from hellos, links and verdicts', () => {
    expect(health().map(h => h.state)).toEqual(['self', 'healthy', 'unreachable'])
    expect(health().map(h => h.step)).toEqual([8, 7, 5])
    expect(health({ flagged: [0, 2, 0], repaired: [0, 1, 0] })[1]).toMatchObject({ state: 'suspect', flagged: 2, repaired: 1 })
    expect(health({ links: [{ score: 0, framesDropped: 0, lastSeenMs: null }, { score: -6, framesDropped: 6, lastSeenMs: 1 }] })[1].state).toBe('suspect')
    expect(health({ helloOf: () => ({ at: now, step: 9, done: true }) })[1].state).toBe('done')
    expect(health({ links: undefined })[1]).toMatchObject({ score: 0, framesDropped: 0, lastResultMs: null, lastHelloMs: 100 })
  })
})

describe('peer status', () => {
  it('builds the status document that the schema accepts, through JSON', () => {
    const s = peerStatus(input({ controller: controllerStatusFixture() }))
    expect(s).toMatchObject({
      step: 8, totalSteps: 100, attempt: 1, loss: 0.7, trainAccuracy: 0.75,
      faults: { injected: 4, detected: 3, corrected: 2, uncorrectable: 1 },
      timing: { computeS: 1.5, stepMs: { median: 30, p95: 40 } },
      bytes: { sent: 1, received: 2 }, frames: { sent: 3, received: 4, dropped: 1, dropReasons: { 'bad-magic': 1 } }, graceMs: { forward: 12 }
    })
    expect(parsePeerStatus(JSON.parse(JSON.stringify(s)))).toEqual({ ok: true, status: s })
  })

  it('before training and without an exchange: zeros and nulls, still a valid status', () => {
    const s = peerStatus(input({ phase: 'joining', index: -1, trainer: undefined, losses: [], correct: [], peers: [], stepMs: [], exchange: undefined }))
    expect(s).toMatchObject({ step: 0, totalSteps: null, attempt: 0, loss: null, trainAccuracy: null, timing: { stepMs: { median: 0, p95: 0 } }, graceMs: {} })
    expect('controller' in s).toBe(false)
    expect(parsePeerStatus(JSON.parse(JSON.stringify(s))).ok).toBe(true)
  })

  it('a diverged loss is null, as it would arrive', () => {
    expect(peerStatus(input({ losses: [1, NaN] })).loss).toBeNull()
  })
})
