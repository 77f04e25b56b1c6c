/**
 * Test helpers: well-formed instances of the JSON messages (protocols/gossip.ts,
 * protocols/status.ts), to derive valid and malformed cases from.
 */
import type { Hello, Verdict } from './gossip.ts'
import type { ControllerStatus, PeerHealth, PeerStatus } from './status.ts'

/** Three valid peer ids (base58btc), in sorted order. */
export const PEER_IDS = ['12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'] as const
export const JOB_HASH = 'ab'.repeat(32)

export function helloFixture (extra: Partial<Hello> = {}): Hello {
  return { type: 'hello', job: JOB_HASH, peer: PEER_IDS[0], step: 3, attempt: 1, ready: true, done: false, seen: [...PEER_IDS], addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${PEER_IDS[0]}`], ...extra }
}

export function verdictFixture (extra: Partial<Verdict> = {}): Verdict {
  return { type: 'verdict', job: JOB_HASH, peer: PEER_IDS[1], step: 3, attempt: 1, rollback: false, flagged: [2], repaired: [], ...extra }
}

export function peerHealthFixture (index: number, extra: Partial<PeerHealth> = {}): PeerHealth {
  return {
    index, peerId: PEER_IDS[index % PEER_IDS.length], flagged: 0, repaired: 0, score: 0, framesDropped: 0,
    lastResultMs: 10, lastHelloMs: 200, step: 3, state: 'healthy', ...extra
  }
}

export function controllerStatusFixture (extra: Partial<ControllerStatus> = {}): ControllerStatus {
  return {
    authorised: true,
    active: ['straggler'],
    params: { softError: null, straggler: { delayMs: 500 }, partition: null, byzantine: null },
    injected: { softErrors: 0, byzantineResults: 0 },
    counters: { commandsAccepted: 1, commandsRefused: 0, delayedPublishes: 4, pausedMs: 0, partitionDropped: 0, garbageFramesSent: 0 },
    missing: [0, 0, 0],
    late: [0, 0, 0],
    commands: [{ at: 1_700_000_000_000, kind: 'straggler', seed: 7 }],
    ...extra
  }
}

/** A training peer's status: peer `index` of `peers`, seeing every member healthy. */
export function peerStatusFixture (index = 0, extra: Partial<PeerStatus> = {}, peers = 3): PeerStatus {
  return {
    job: JOB_HASH,
    peerId: PEER_IDS[index % PEER_IDS.length],
    index,
    phase: 'training',
    addresses: [`/ip4/127.0.0.1/tcp/${4001 + index}/p2p/${PEER_IDS[index % PEER_IDS.length]}`],
    step: 3,
    totalSteps: 100,
    attempt: 1,
    loss: 0.5,
    trainAccuracy: 0.8,
    faults: { injected: 1, detected: 2, corrected: 2, uncorrectable: 0 },
    rollbacks: 0,
    repairs: 0,
    rejoins: 0,
    restoredFrom: null,
    lastCheckpoint: null,
    verdictDisagreements: 0,
    peers: Array.from({ length: peers }, (_, j) => peerHealthFixture(j, j === index ? { state: 'self' } : {})),
    timing: { computeS: 1, encodeS: 0.1, decodeS: 0.2, waitS: 0.3, stepMs: { median: 12, p95: 30 } },
    bytes: { sent: 1000, received: 2000 },
    frames: { sent: 10, received: 20, dropped: 0, dropReasons: {} },
    graceMs: { forward: 25 },
    controller: controllerStatusFixture(),
    ...extra
  }
}
