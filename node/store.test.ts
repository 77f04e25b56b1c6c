import { describe, it, expect } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity, createCheckpointStore, encodeCheckpoint, decodeCheckpoint, StoreError, saveKnownPeers, loadKnownPeers } from './store.ts'

const dir = (): string => mkdtempSync(join(tmpdir(), 'codenet-store-'))

describe('identity', () => {
  it('persists: a second load gives the same peer id', async () => {
    const d = dir()
    const a = await loadOrCreateIdentity(d)
    const b = await loadOrCreateIdentity(d)
    expect(a.created).toBe(true)
    expect(b.created).toBe(false)
    expect(peerIdFromPrivateKey(b.key).toString()).toBe(peerIdFromPrivateKey(a.key).toString())
  })

  it('refuses a damaged identity file instead of silently making a new id', async () => {
    const d = dir()
    await loadOrCreateIdentity(d)
    const f = join(d, 'identity.key')
    const lines = readFileSync(f, 'utf8').split('\n')
    lines[1] = lines[1].slice(0, -4) + 'AAAA'
    writeFileSync(f, lines.join('\n'))
    await expect(loadOrCreateIdentity(d)).rejects.toThrow(StoreError)
  })
})

describe('checkpoints', () => {
  // Opaque bytes under a name the store does not interpret ('trainer' blobs are range-checked: node/checkpoint-fallback.test.ts).
  const ck = (step: number) => ({ meta: { step, job: 'j' }, blobs: new Map([['state', Uint8Array.from({ length: 1000 }, (_, i) => (i * step) & 255)]]) })

  it('round-trips, keeps the newest three, and every byte flip is refused', () => {
    const bytes = encodeCheckpoint(ck(7))
    const back = decodeCheckpoint(bytes)
    expect(back.meta).toEqual({ step: 7, job: 'j' })
    expect(back.blobs.get('state')).toEqual(ck(7).blobs.get('state'))
    for (let i = 0; i < bytes.length; i += 7) {
      const bad = bytes.slice(); bad[i] ^= 0x10
      expect(() => decodeCheckpoint(bad)).toThrow(StoreError)
    }
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1))).toThrow(StoreError)
  })

  it('writes atomically and skips a corrupted newest file, loading the previous one', async () => {
    const d = dir()
    const store = createCheckpointStore(d)
    for (const s of [10, 20, 30, 40]) await store.save(s, ck(s))
    expect(await store.list()).toEqual([20, 30, 40])
    expect(readdirSync(d).filter(f => f.includes('.tmp-'))).toEqual([])
    const newest = join(d, 'checkpoint-0000000040.ck')
    const b = readFileSync(newest); b[b.length - 3] ^= 1; writeFileSync(newest, b)
    const refused: string[] = []
    const got = await store.loadLatest(f => { refused.push(f) })
    expect(refused).toEqual([newest])
    expect(got?.step).toBe(30)
    expect(got?.ck.meta.step).toBe(30)
  })
})

describe('known peers', () => {
  it('round-trips member addresses; a damaged file is only an empty hint', async () => {
    const d = dir()
    const a = '/ip4/192.168.1.5/tcp/4101/p2p/12D3KooWEy9M2B9w8v9k2S1sAk3bUKtghEhb5yRFKzk1sHBHqvYr'
    expect(await loadKnownPeers(d)).toEqual([])
    await saveKnownPeers(d, [a, '/ip4/1.2.3.4/tcp/1'])
    expect(await loadKnownPeers(d)).toEqual([a])
    writeFileSync(join(d, 'peers.json'), '{"version":1,"addrs":')
    expect(await loadKnownPeers(d)).toEqual([])
  })
})
