import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, type CodenetHost } from '../node/peer.ts'
import { ResultExchange } from './results.ts'
import { adaptiveGrace } from '../training/collect.ts'
import { encodeFrames, lengthPrefixed, MAX_FRAME_LENGTH } from './frame.ts'
import { matrix } from '../codes/matrix.ts'

const JOB = Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2])
const PROTOCOL = '/codenet/job/test/results/1.0.0'
const P = 5

function payload (rows: number, cols: number, seed: number) {
  return matrix(rows, cols, Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(seed * 1000 + i)))
}

describe('libp2p result exchange over TCP loopback', () => {
  let hosts: CodenetHost[] = []
  let ex: ResultExchange[] = []

  beforeAll(async () => {
    hosts = await Promise.all(Array.from({ length: P }, async () => createHost({
      privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false
    })))
    const sorted = [...hosts].sort((a, b) => a.peerId.toString() < b.peerId.toString() ? -1 : 1)
    hosts = sorted
    const members = hosts.map(h => h.peerId)
    ex = hosts.map((h, i) => new ResultExchange(h, { protocol: PROTOCOL, jobId: JOB, self: i, members, initialGraceMs: 50 }))
    await Promise.all(ex.map(async e => { await e.start() }))
    for (let i = 0; i < P; i++) for (let j = i + 1; j < P; j++) await hosts[i].dial(hosts[j].getMultiaddrs()[0])
  })

  afterAll(async () => {
    await Promise.all(ex.map(async e => { await e.stop() }))
    await Promise.all(hosts.map(async h => { await h.stop() }))
  })

  it('every peer collects every peer\'s result, including large chunked ones', async () => {
    for (const [rows, cols] of [[3, 4], [64, 700]] as const) {
      const key = { step: rows, layer: 1, phase: 'forward', attempt: 0 }
      await Promise.all(ex.map(async (e, i) => { await e.publish(key, payload(rows, cols, i)) }))
      const got = await Promise.all(ex.map(async e => e.collect(key, { threshold: P, timeoutMs: 20_000 })))
      for (const c of got) {
        expect(c.timedOut).toBe(false)
        expect(c.results.size).toBe(P)
        for (let i = 0; i < P; i++) expect(Buffer.from(c.results.get(i)!.data.buffer).equals(Buffer.from(payload(rows, cols, i).data.buffer))).toBe(true)
      }
    }
    expect(ex[0].stats().bytesSent).toBeGreaterThan(64 * 700 * 8 * (P - 1))
  })

  it('targets only the given peers', async () => {
    const key = { step: 100, layer: 0, phase: 'shard', attempt: 0 }
    await ex[1].publish(key, payload(2, 2, 1), [3])
    const at3 = await ex[3].collect(key, { threshold: 1, timeoutMs: 10_000 })
    expect([...at3.results.keys()]).toEqual([1])
    const at2 = await ex[2].collect(key, { threshold: 1, timeoutMs: 300 })
    expect(at2.timedOut).toBe(true)
    expect(at2.results.size).toBe(0)
  })

  it('drops garbage and spoofed frames from a member, scores it down, and keeps working', async () => {
    // Peer 4 opens a raw stream to peer 0 and sends garbage, a frame claiming to be peer 2, and NaNs.
    const before = ex[0].stats().peers[4]
    const stream = await hosts[4].dialProtocol(hosts[0].peerId, PROTOCOL)
    const spoof = encodeFrames({ jobId: JOB, step: 110, layer: 0, phase: 'forward', attempt: 0, sender: 2, rows: 1, cols: 2 }, Float64Array.from([1, 2]))
    const nan = encodeFrames({ jobId: JOB, step: 110, layer: 0, phase: 'forward', attempt: 0, sender: 4, rows: 1, cols: 2 }, Float64Array.from([1, NaN]))
    const wrongJob = encodeFrames({ jobId: new Uint8Array(8), step: 110, layer: 0, phase: 'forward', attempt: 0, sender: 4, rows: 1, cols: 2 }, Float64Array.from([1, 2]))
    const junk = new Uint8Array(60).fill(7); new DataView(junk.buffer).setUint32(0, 56)
    for (const f of [junk, ...spoof.map(lengthPrefixed), ...nan.map(lengthPrefixed), ...wrongJob.map(lengthPrefixed)]) stream.send(f)
    // Then a length prefix beyond the cap: the stream gets reset.
    const huge = new Uint8Array(8); new DataView(huge.buffer).setUint32(0, MAX_FRAME_LENGTH + 1)
    stream.send(huge)
    await new Promise(resolve => setTimeout(resolve, 300))
    const after = ex[0].stats().peers[4]
    expect(after.framesDropped - before.framesDropped).toBe(5)
    expect(after.score).toBeLessThan(before.score)
    const reasons = ex[0].stats().dropReasons
    expect(reasons['spoofed-sender']).toBeGreaterThanOrEqual(1)
    expect(reasons['not-finite']).toBeGreaterThanOrEqual(1)
    expect(reasons['wrong-job']).toBeGreaterThanOrEqual(1)
    expect(reasons['too-large']).toBeGreaterThanOrEqual(1)
    // Nothing from the bad frames was accepted as a result.
    const c = await ex[0].collect({ step: 110, layer: 0, phase: 'forward', attempt: 0 }, { threshold: 1, timeoutMs: 100 })
    expect(c.results.size).toBe(0)
    // And the real exchange from 4 to 0 still works.
    const key = { step: 111, layer: 0, phase: 'forward', attempt: 0 }
    await ex[4].publish(key, payload(2, 3, 4))
    const ok = await ex[0].collect(key, { threshold: 1, want: 1, timeoutMs: 10_000 })
    expect(ok.results.get(4)?.data).toEqual(payload(2, 3, 4).data)
  })

  it('a result whose shape differs from the round\'s is dropped and scored down', async () => {
    const key = { step: 120, layer: 0, phase: 'forward', attempt: 0 }
    const before = ex[0].stats().peers[2].framesDropped
    await ex[1].publish(key, payload(3, 2, 1))
    await ex[2].publish(key, payload(2, 3, 2))
    await ex[0].publish(key, payload(3, 2, 0))
    const c = await ex[0].collect(key, { threshold: 2, want: 3, timeoutMs: 10_000 })
    expect([...c.results.keys()].sort()).toEqual([0, 1])
    expect(ex[0].stats().peers[2].framesDropped).toBe(before + 1)
    expect(ex[0].stats().dropReasons['shape-mismatch']).toBe(1)
  })

  it('a member heard at a later step without delivering is an erasure: the round stops waiting for it', async () => {
    // Peer 0 waits for every result of step 200 (a restarted peer after a resync: it needs them
    // all). Peer 4 skips that round (its frames for it were dropped while it backed off) and
    // publishes step 201: peer 0 gives up on it at once, not at the 20 s timeout.
    const key = { step: 200, layer: 0, phase: 'forward', attempt: 0 }
    await Promise.all(ex.slice(0, 4).map(async (e, i) => { await e.publish(key, payload(2, 2, i)) }))
    const t0 = performance.now()
    const waiting = ex[0].collect(key, { threshold: P, timeoutMs: 20_000 })
    const early = await Promise.race([waiting.then(() => 'over'), new Promise(resolve => setTimeout(() => resolve('waiting'), 300))])
    expect(early).toBe('waiting')
    await ex[4].publish({ ...key, step: 201 }, payload(2, 2, 4))
    const c = await waiting
    expect(performance.now() - t0).toBeLessThan(10_000)
    expect(c.timedOut).toBe(true)
    expect([...c.results.keys()].sort()).toEqual([0, 1, 2, 3])
    // With `enough` failing on four results and the fifth member overtaken, it ends as well.
    const key2 = { step: 202, layer: 0, phase: 'forward', attempt: 0 }
    await Promise.all(ex.slice(0, 4).map(async (e, i) => { await e.publish(key2, payload(2, 2, i)) }))
    const waiting2 = ex[0].collect(key2, { threshold: 4, timeoutMs: 20_000, graceMs: 10, enough: (r) => r.size >= 5 })
    await new Promise(resolve => setTimeout(resolve, 200))
    await ex[4].publish({ ...key2, step: 203 }, payload(2, 2, 4))
    const c2 = await waiting2
    expect(performance.now() - t0).toBeLessThan(15_000)
    expect([...c2.results.keys()].sort()).toEqual([0, 1, 2, 3])
    // A member heard at a later step of another attempt (it had not rolled back yet, or the
    // final rounds meet at attempt 0) is still waited for.
    const key3 = { step: 204, layer: 0, phase: 'forward', attempt: 1 }
    await ex[4].publish({ ...key3, step: 205, attempt: 0 }, payload(2, 2, 4))
    await Promise.all(ex.slice(0, 4).map(async (e, i) => { await e.publish(key3, payload(2, 2, i)) }))
    const waiting3 = ex[0].collect(key3, { threshold: P, timeoutMs: 20_000 })
    const still = await Promise.race([waiting3.then(() => 'over'), new Promise(resolve => setTimeout(() => resolve('waiting'), 500))])
    expect(still).toBe('waiting')
    await ex[4].publish(key3, payload(2, 2, 4))
    expect((await waiting3).results.size).toBe(P)
  })

  it('an audit round of step s stops waiting for a member heard further into step s; a member at its first forward round is still waited for', async () => {
    // Peers 0 and 1 audit at step 210 (a flag reached only them); peers 2 and 3 published
    // their first forward product of 210 (they may still audit: waited for), then peer 2
    // moved to forward layer 1 (it did not audit here: given up on) — and peer 4 to backward.
    const audit = { step: 210, layer: -1, phase: 'audit', attempt: 0 }
    await ex[0].publish(audit, payload(2, 1, 0))
    await ex[1].publish(audit, payload(2, 1, 1))
    for (const i of [2, 3, 4]) await ex[i].publish({ step: 210, layer: 0, phase: 'forward', attempt: 0 }, payload(2, 2, i))
    const t0 = performance.now()
    const waiting = ex[0].collect(audit, { threshold: 3, timeoutMs: 20_000, graceMs: 10 })
    await ex[2].publish({ step: 210, layer: 1, phase: 'forward', attempt: 0 }, payload(2, 2, 2))
    await ex[4].publish({ step: 210, layer: 1, phase: 'backward', attempt: 0 }, payload(2, 2, 4))
    const early = await Promise.race([waiting.then(() => 'over'), new Promise(resolve => setTimeout(() => resolve('waiting'), 500))])
    // Peer 3 is still at forward layer 0 of step 210: it may yet send its sketch.
    expect(early).toBe('waiting')
    await ex[3].publish({ step: 210, layer: 1, phase: 'forward', attempt: 0 }, payload(2, 2, 3))
    const c = await waiting
    expect(performance.now() - t0).toBeLessThan(10_000)
    expect(c.timedOut).toBe(true)
    expect([...c.results.keys()].sort()).toEqual([0, 1])
    // The vote on step 210 comes after 210's backward products: peer 4, heard there, is waited for.
    const vote = { step: 210, layer: -1, phase: 'vote', attempt: 0 }
    for (const i of [0, 1, 2, 3]) await ex[i].publish(vote, payload(1, 3, i))
    const votes = ex[0].collect(vote, { threshold: P, timeoutMs: 20_000, graceMs: 10 })
    const pending = await Promise.race([votes.then(() => 'over'), new Promise(resolve => setTimeout(() => resolve('waiting'), 500))])
    expect(pending).toBe('waiting')
    await ex[4].publish(vote, payload(1, 3, 4))
    expect((await votes).results.size).toBe(P)
  })

  it('a stopped peer is an erasure: collect returns at threshold after the grace period', async () => {
    await ex[P - 1].stop()
    await hosts[P - 1].stop()
    const key = { step: 300, layer: 0, phase: 'backward', attempt: 0 }
    const live = ex.slice(0, P - 1)
    await Promise.all(live.map(async (e, i) => { await e.publish(key, payload(4, 4, i)) }))
    const got = await Promise.all(live.map(async e => e.collect(key, { threshold: P - 1, timeoutMs: 20_000, graceMs: 100 })))
    for (const c of got) {
      expect(c.timedOut).toBe(false)
      expect([...c.results.keys()].sort()).toEqual([0, 1, 2, 3])
    }
    // The engine moves on; prune frees the inbox.
    for (const e of live) e.prune(301)
    const stale = await live[0].collect(key, { threshold: 1, timeoutMs: 50 })
    expect(stale.results.size).toBe(0)
  })
})

describe('inbound session fuzz', () => {
  it('100,000 random and mutated frames through the stream handler: no throw, bounded memory', () => {
    const members = Array.from({ length: 4 }, (_, i) => ({ toString: () => `peer${i}` })) as any
    const components = { handle: async () => {}, unhandle: async () => {}, dialProtocol: async () => { throw new Error('no') } }
    const e = new ResultExchange(components as any, { protocol: PROTOCOL, jobId: JOB, self: 0, members, maxInboxBytesPerSender: 1 << 20 })
    let s = 12345
    const rand = (): number => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296 }
    const good = [
      ...encodeFrames({ jobId: JOB, step: 3, layer: 1, phase: 'forward', attempt: 0, sender: 1, rows: 10, cols: 500 }, Float64Array.from({ length: 5000 }, (_, i) => i)),
      ...encodeFrames({ jobId: JOB, step: 4, layer: 0, phase: 'backward', attempt: 1, sender: 1, rows: 2, cols: 2 }, Float64Array.from([1, 2, 3, 4]))
    ]
    let session = e.inboundSession(1)
    for (let n = 0; n < 100_000; n++) {
      let f: Uint8Array
      if (rand() < 0.3) {
        f = new Uint8Array(Math.floor(rand() * 120)); for (let i = 0; i < f.length; i++) f[i] = Math.floor(rand() * 256)
      } else {
        f = good[Math.floor(rand() * good.length)].slice()
        for (let k = Math.floor(rand() * 3); k > 0; k--) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256)
        // Random step and shape fields stress the reassembly caps.
        if (rand() < 0.2) new DataView(f.buffer).setUint32(12, Math.floor(rand() * 1e6))
      }
      session.push(rand() < 0.8 ? lengthPrefixed(f) : f)
      if (!session.healthy) session = e.inboundSession(1)
      if (n % 10_000 === 0) e.prune(n)
    }
    const st = e.stats()
    expect(st.framesDropped).toBeGreaterThan(10_000)
    expect(st.framesReceived).toBeGreaterThan(0)
    // Held payload bytes never exceed the per-sender cap (checked through the accounting).
    expect((e as any).inbox.heldBytes[1]).toBeLessThanOrEqual(1 << 20)
    // …and so is the number of rounds a sender can open (each result is charged ≥ 1 KiB).
    expect((e as any).inbox.rounds.size).toBeLessThanOrEqual((1 << 20) / 1024)
  })

  it('adaptive grace is median + k·MAD, clamped', () => {
    expect(adaptiveGrace([], 4, 2, 1000, 250)).toBe(250)
    expect(adaptiveGrace([10, 10, 10, 10], 4, 2, 1000, 250)).toBe(10)
    expect(adaptiveGrace([10, 12, 14, 500], 4, 2, 1000, 250)).toBe(13 + 4 * 2)
    expect(adaptiveGrace([5000, 5000, 5000], 4, 2, 1000, 250)).toBe(1000)
  })
})
