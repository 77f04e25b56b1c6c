/**
 * A member that lies about where it is. Reproduced attack: one forward frame claiming
 * step = total − 3 made both honest peers jump from step 1 to 99,998 and "finish" (positions
 * were taken from any frame, and a peer jumped to where the others said they were). Now a far
 * frame is recorded as that member's claim but not kept, and a peer moves only to the median
 * of the members' positions (sound with at most f liars), never more than RESYNC_WINDOW at once.
 */
import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ResultExchange, FUTURE_STEPS } from './results.ts'
import { encodeFrames, lengthPrefixed } from './frame.ts'
import { networkPosition, RESYNC_WINDOW } from '../training/trainer/resync.ts'

const JOB = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])

async function exchangeOf (P: number): Promise<ResultExchange> {
  const members = await Promise.all(Array.from({ length: P }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  const components = { handle: async () => {}, unhandle: async () => {}, dialProtocol: async () => { throw new Error('no network in this test') } }
  return new ResultExchange(components, { protocol: '/t', jobId: JOB, self: 0, members })
}

function frameBytes (sender: number, step: number, values = 1000): Uint8Array {
  const frames = encodeFrames({ jobId: JOB, step, layer: 0, phase: 'forward', attempt: 0, sender, rows: values, cols: 1 }, new Float64Array(values).fill(1))
  const parts = frames.map(lengthPrefixed)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

describe('a member that claims to be far ahead', () => {
  it('its far-future frames are dropped, not kept; its claim is recorded as its position only', async () => {
    const ex = await exchangeOf(3)
    const liar = ex.inboundSession(2)
    for (let k = 0; k < 50; k++) liar.push(frameBytes(2, 99_998 - k, 20_000))
    expect(ex.stats().dropReasons['far-future']).toBeGreaterThanOrEqual(50)
    // Nothing was kept for those steps: collecting one of them finds nothing.
    const c = await ex.collect({ step: 99_998, layer: 0, phase: 'forward', attempt: 0 }, { threshold: 1, timeoutMs: 10 })
    expect(c.results.has(2)).toBe(false)
    // A frame within the window is kept as usual.
    ex.inboundSession(1).push(frameBytes(1, FUTURE_STEPS - 1, 4))
    const near = await ex.collect({ step: FUTURE_STEPS - 1, layer: 0, phase: 'forward', attempt: 0 }, { threshold: 1, timeoutMs: 1000 })
    expect(near.results.has(1)).toBe(true)
    // The liar's last claim is its recorded position (what the median is robust to).
    expect(ex.positions()[2]?.step).toBe(99_949)
  })

  it('one liar among the members cannot move the network position (P = 6, f = 1)', () => {
    const at = (step: number, seq: number) => ({ step, attempt: 0, at: 0, seq })
    const honest = 40
    // Peer 0 asks; peers 1–4 are at step 40; peer 5 claims 99,998.
    const positions = [null, at(honest, 1), at(honest, 2), at(honest + 1, 3), at(honest, 4), at(99_998, 5)]
    expect(networkPosition(positions, 0, 0)?.step).toBe(honest)
    expect(networkPosition(positions, 0, 0, { step: honest, attempt: 0 })?.step).toBe(honest)
    // Even a liar with the largest attempt too stays outside the median.
    positions[5] = { step: 99_998, attempt: 7, at: 0, seq: 6 }
    expect(networkPosition(positions, 0, 0, { step: honest, attempt: 0 })).toEqual({ step: honest, attempt: 0 })
    expect(RESYNC_WINDOW).toBeGreaterThan(FUTURE_STEPS)
  })
})
