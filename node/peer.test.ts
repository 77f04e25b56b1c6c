import { describe, it, expect } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import { multiaddr } from '@multiformats/multiaddr'
import { createSocket } from 'node:dgram'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { checkListenAddrs, createHost, readSwarmKey, dialableAddresses, PeerConfigError } from './peer.ts'
import { dialOrder, quicFailedRecently } from './transports.ts'

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

  it('listens on QUIC and TCP by default, QUIC first; either carries an authenticated connection', async () => {
    const key = await generateKeyPair('Ed25519')
    const h = await createHost({ privateKey: key, mdns: false })
    const q = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const t = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    try {
      const addrs = dialableAddresses(h)
      const loop = addrs.filter(a => a.startsWith('/ip4/127.0.0.1/'))
      expect(loop.map(a => a.replace(/\/\d+\//, '/N/').replace(/\/p2p\/.*$/, ''))).toEqual(['/ip4/127.0.0.1/udp/N/quic-v1', '/ip4/127.0.0.1/tcp/N'])
      // Each dialer reaches the peer id it asked for, over the transport of the address.
      const overQuic = await q.dial(multiaddr(loop[0]), { signal: AbortSignal.timeout(10_000) })
      const overTcp = await t.dial(multiaddr(loop[1]), { signal: AbortSignal.timeout(10_000) })
      expect(overQuic.remotePeer.equals(h.peerId) && overTcp.remotePeer.equals(h.peerId)).toBe(true)
      expect(overQuic.remoteAddr.toString()).toContain('/quic-v1')
      expect(overTcp.remoteAddr.toString()).toContain('/tcp/')
      expect(overTcp.encryption).toBe('/noise')
    } finally { await Promise.all([h.stop(), q.stop(), t.stop()]) }
  })

  it('with a swarm key listens and dials on TCP only, and refuses a QUIC listen address in one line', async () => {
    const k = await readSwarmKey(await swarmKeyFile())
    const open = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], mdns: false })
    const priv = await createHost({ privateKey: await generateKeyPair('Ed25519'), mdns: false, swarmKey: k })
    try {
      expect(priv.getMultiaddrs().every(a => a.toString().includes('/tcp/'))).toBe(true)
      // No QUIC transport: a QUIC address is no way around the private network.
      await expect(priv.dial(open.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })).rejects.toThrow()
      expect(priv.getConnections().length).toBe(0)
    } finally { await Promise.all([open.stop(), priv.stop()]) }
    await expect(createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], mdns: false, swarmKey: k }))
      .rejects.toThrow(/^--listen \/ip4\/127\.0\.0\.1\/udp\/0\/quic-v1: with --swarm-key a codenet peer listens on TCP only/)
    expect(() => { checkListenAddrs(['/ip4/0.0.0.0/udp/4101/quic-v1', '/ip6/::/tcp/0']) }).not.toThrow()
    expect(() => { checkListenAddrs(['/ip4/0.0.0.0/udp/4101']) }).toThrow(/listens on TCP \(\/ip4\/ADDR\/tcp\/PORT\) or QUIC/)
  })

  it('dials QUIC addresses before TCP ones, after public-before-private and loopback-last', () => {
    const a = (s: string) => ({ multiaddr: multiaddr(s), isCertified: false })
    const sorted = [
      a('/ip4/127.0.0.1/tcp/1'), a('/ip4/127.0.0.1/udp/1/quic-v1'), a('/ip4/192.168.1.2/tcp/1'), a('/ip4/192.168.1.2/udp/1/quic-v1')
    ].sort(dialOrder).map(x => x.multiaddr.toString())
    expect(sorted).toEqual(['/ip4/192.168.1.2/udp/1/quic-v1', '/ip4/192.168.1.2/tcp/1', '/ip4/127.0.0.1/udp/1/quic-v1', '/ip4/127.0.0.1/tcp/1'])
  })

  it('a QUIC address whose packets are dropped is dialled after TCP next time, so the peer is reached', async () => {
    // A UDP socket that swallows everything: a QUIC dial to it only times out.
    const sink = createSocket('udp4')
    sink.on('message', () => {})
    await new Promise<void>(resolve => { sink.bind(0, '127.0.0.1', () => { resolve() }) })
    const key = await generateKeyPair('Ed25519')
    const target = await createHost({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const dialer = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    try {
      const id = peerIdFromPrivateKey(key)
      const blackHole = multiaddr(`/ip4/127.0.0.1/udp/${(sink.address()).port}/quic-v1`)
      await dialer.peerStore.merge(id, { multiaddrs: [blackHole, ...target.getMultiaddrs()] })
      // First try: QUIC first, and the dial's 2 s run out before TCP is tried.
      await expect(dialer.dial(id, { signal: AbortSignal.timeout(2000) })).rejects.toThrow()
      expect(quicFailedRecently(blackHole)).toBe(true)
      // Next try: TCP first (QUIC first would again wait out the whole budget: libp2p gives an address 6 s).
      const conn = await dialer.dial(id, { signal: AbortSignal.timeout(4000) })
      expect(conn.remoteAddr.toString()).toContain('/tcp/')
    } finally {
      await Promise.all([target.stop(), dialer.stop()])
      sink.close()
    }
  })

  it('refuses a file that is not a swarm key', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'codenet-psk-')), 'bad.key')
    writeFileSync(f, 'hello')
    await expect(readSwarmKey(f)).rejects.toThrow(PeerConfigError)
  })
})
