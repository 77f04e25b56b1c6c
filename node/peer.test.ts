import { describe, it, expect } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import { createHost, readSwarmKey, dialableAddresses, PeerConfigError } from './peer.ts'

async function swarmKeyFile (): Promise<string> {
  const k = new Uint8Array(95)
  generateKey(k)
  const f = join(mkdtempSync(join(tmpdir(), 'codenet-psk-')), 'swarm.key')
  writeFileSync(f, k)
  return f
}

describe('host', () => {
  it('prints dialable addresses with its peer id; a 0.0.0.0 listener expands to interfaces', async () => {
    const h = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/0.0.0.0/tcp/0'], mdns: false })
    try {
      const addrs = dialableAddresses(h)
      expect(addrs.length).toBeGreaterThan(0)
      for (const a of addrs) expect(a).toMatch(new RegExp(`^/ip4/[0-9.]+/tcp/\\d+/p2p/${h.peerId.toString()}$`))
      expect(addrs.some(a => a.startsWith('/ip4/127.0.0.1/'))).toBe(true)
      expect(addrs.every(a => !a.startsWith('/ip4/0.0.0.0/'))).toBe(true)
    } finally { await h.stop() }
  })

  it('a swarm key makes a private network: same key connects, another key does not', async () => {
    const k1 = await readSwarmKey(await swarmKeyFile())
    const k2 = await readSwarmKey(await swarmKeyFile())
    const mk = async (k: Uint8Array) => await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, swarmKey: k })
    const [a, b, c] = await Promise.all([mk(k1), mk(k1), mk(k2)])
    try {
      await a.dial(b.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      expect(a.getConnections(b.peerId).length).toBeGreaterThan(0)
      await expect(a.dial(c.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })).rejects.toThrow()
    } finally { await Promise.all([a.stop(), b.stop(), c.stop()]) }
  })

  it('refuses a file that is not a swarm key', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'codenet-psk-')), 'bad.key')
    writeFileSync(f, 'hello')
    await expect(readSwarmKey(f)).rejects.toThrow(PeerConfigError)
  })
})
