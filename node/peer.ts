/**
 * The libp2p host of one codenet peer: QUIC (TLS 1.3, native streams) and TCP (noise, yamux),
 * identify, gossipsub, and discovery by mDNS and/or a bootstrap list, optionally inside a
 * private network (pnet swarm key: then TCP only, see `createHost`).
 *
 * `createHost` only builds and starts the node; the job logic (barrier, exchange, engine) sits
 * on top in `node/engine.ts`.
 */
import { networkInterfaces } from 'node:os'
import { readFile } from 'node:fs/promises'
import { createLibp2p, type Libp2p } from 'libp2p'
import { corkedTcp } from './tcp-corked.ts'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { mdns } from '@libp2p/mdns'
import { bootstrap } from '@libp2p/bootstrap'
import { preSharedKey } from '@libp2p/pnet'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey, PeerDiscovery } from '@libp2p/interface'
import { noiseCrypto } from './noise-crypto.ts'
import { batchWindowUpdates } from './yamux-window.ts'
import { fastNoiseFraming } from './noise-framing.ts'
import { dialOrder, QUIC_ADDR, QUIC_AVAILABLE, quicTransports, TCP_ADDR } from './transports.ts'

export class PeerConfigError extends Error {
  override name = 'PeerConfigError'
}

export interface HostConfig {
  privateKey: PrivateKey
  /**
   * Listen multiaddrs (TCP /ip4|ip6/ADDR/tcp/PORT, QUIC /ip4|ip6/ADDR/udp/PORT/quic-v1); default
   * all interfaces, OS-assigned ports, QUIC and TCP (TCP only with a swarm key).
   */
  listen?: string[]
  bootstrap?: string[]
  /** mDNS discovery on the LAN. Tests turn it off so parallel runs never meet. */
  mdns?: boolean
  /** Contents of a swarm.key file: a private network only peers holding the key can join. */
  swarmKey?: Uint8Array
}

export type CodenetHost = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export function parseMultiaddrs (flag: string, values: readonly string[]): Multiaddr[] {
  return values.map(v => {
    try { return multiaddr(v) } catch (err) { throw new PeerConfigError(`${flag} '${v}' is not a multiaddr: ${(err as Error).message}`) }
  })
}

/**
 * codenet peers listen on TCP (/ip4|ip6/ADDR/tcp/PORT) and QUIC (/ip4|ip6/ADDR/udp/PORT/quic-v1);
 * with a swarm key on TCP only: pnet wraps a TCP connection before its encryption, and QUIC,
 * which encrypts inside the transport, would let anyone without the key in.
 */
export function checkListenAddrs (values: readonly string[], opts: { swarmKey?: boolean } = {}): void {
  for (const ma of parseMultiaddrs('--listen', values)) {
    const s = ma.toString()
    if (QUIC_ADDR.test(s) && opts.swarmKey === true) throw new PeerConfigError(`--listen ${s}: with --swarm-key a codenet peer listens on TCP only (a private network cannot cover QUIC)`)
    if (!TCP_ADDR.test(s) && !QUIC_ADDR.test(s)) throw new PeerConfigError(`--listen ${s}: a codenet peer listens on TCP (/ip4/ADDR/tcp/PORT) or QUIC (/ip4/ADDR/udp/PORT/quic-v1)`)
    if (QUIC_ADDR.test(s) && !QUIC_AVAILABLE) throw new PeerConfigError(`--listen ${s}: QUIC is not available on this platform (no prebuilt @chainsafe/libp2p-quic binary): listen on TCP`)
  }
}

/** Why the OS refused a listen address, in words. */
function listenReason (text: string): string {
  if (text.includes('EADDRINUSE')) return 'the port is already in use'
  if (text.includes('EADDRNOTAVAIL')) return 'no network interface of this machine has that address'
  if (text.includes('EACCES')) return 'permission denied (ports below 1024 need privileges)'
  if (text.includes('UnsupportedListenAddressError')) return 'no transport listens on it (TCP or QUIC only)'
  return text.replace(/^\w*Error: /, '')
}

/** libp2p's multi-line listen failure as one PeerConfigError line, or null for any other error. */
export function listenFailure (err: unknown): PeerConfigError | null {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return null
  const each = [...err.message.matchAll(/^\s*(\/\S+): (.*)$/gm)].map(m => `${m[1]}: ${listenReason(m[2])}`)
  return new PeerConfigError(`cannot listen on ${each.length > 0 ? each.join('; ') : 'the --listen addresses'}`)
}

export async function readSwarmKey (path: string): Promise<Uint8Array> {
  let bytes: Buffer
  try { bytes = await readFile(path) } catch (err) { throw new PeerConfigError(`cannot read swarm key ${path}: ${(err as Error).message}`) }
  const text = bytes.toString('utf8')
  if (bytes.length > 1024 || !/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-fA-F]{64}\s*$/.test(text)) {
    throw new PeerConfigError(`${path} is not a swarm key (expected /key/swarm/psk/1.0.0/, /base16/, 64 hex digits)`)
  }
  return new Uint8Array(bytes)
}

export async function createHost (cfg: HostConfig): Promise<CodenetHost> {
  // yamux window updates at half the window, not after every frame (node/yamux-window.ts).
  batchWindowUpdates()
  const open = cfg.swarmKey === undefined
  const listen = cfg.listen !== undefined && cfg.listen.length > 0 ? cfg.listen : open && QUIC_AVAILABLE ? ['/ip4/0.0.0.0/udp/0/quic-v1', '/ip4/0.0.0.0/tcp/0'] : ['/ip4/0.0.0.0/tcp/0']
  checkListenAddrs(listen, { swarmKey: !open })
  const boot = cfg.bootstrap ?? []
  parseMultiaddrs('--bootstrap', boot)
  const discovery: Array<(c: any) => PeerDiscovery> = []
  if (cfg.mdns !== false) discovery.push(mdns({ interval: 2000 }))
  if (boot.length > 0) discovery.push(bootstrap({ list: boot, timeout: 100 }))
  const options = {
    privateKey: cfg.privateKey,
    addresses: { listen },
    // QUIC is the faster transport (docs/performance.md, Transports): its own TLS 1.3 with the
    // libp2p peer id in the certificate, native streams and flow control, one UDP socket. It
    // is left out in a private network (pnet wraps TCP connections only). TCP stays for private networks and for peers that only reach each other over TCP;
    // its noise sessions use codenet's ChaCha20-Poly1305 (node/noise-crypto.ts: one key object
    // per session key instead of one per message, which walked the JS stack each time). yamux keeps
    // its defaults: its initial window is fixed by the spec and grows by itself to 16 MiB.
    transports: open ? [...quicTransports(), corkedTcp()] : [corkedTcp()],
    connectionEncrypters: [fastNoiseFraming(noise({ crypto: noiseCrypto }))],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    ...(cfg.swarmKey !== undefined ? { connectionProtector: preSharedKey({ psk: cfg.swarmKey }) } : {}),
    // QUIC addresses first, TCP next, QUIC addresses that just failed last (node/transports.ts).
    connectionManager: { maxConnections: 300, addressSorter: dialOrder },
    // libp2p's connection monitor aborts a connection whose ping (here a stream negotiation:
    // peers run no ping service) outlasts an adaptive timeout of at least 5 s. A peer busy
    // computing, or a QUIC connection with megabytes of results queued ahead of the ping, can
    // take that long, and the abort throws away results already written to the connection
    // (`codenet bench exchange` lost rounds that way under load). 30 s still finds a dead TCP
    // connection (QUIC finds its own, by its idle timeout).
    connectionMonitor: { pingTimeout: { minTimeout: 30_000 } },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        // Gossip carries only joining and membership (hellos), never per-step traffic. A small
        // job's mesh holds every member, so flood publishing buys nothing; a fast id (sender +
        // sequence number, cached only after a signature verified) drops duplicates before their
        // signatures are checked again.
        allowPublishToZeroTopicPeers: true,
        floodPublish: false,
        fastMsgIdFn: (msg) => `${Buffer.from(msg.from ?? []).toString('base64')}/${Buffer.from(msg.seqno ?? []).toString('base64')}`,
        emitSelf: false,
        D: 6,
        Dlo: 2,
        Dhi: 12,
        heartbeatInterval: 500
      })
    }
  }
  try {
    return await createLibp2p(options)
  } catch (err) {
    // A busy port or a foreign address: one line naming the address, not libp2p's stack.
    throw listenFailure(err) ?? err
  }
}

/** Dial bootstrap addresses directly too (bootstrap discovery only announces them). */
export async function dialAll (node: CodenetHost, addrs: readonly string[], signal?: AbortSignal): Promise<number> {
  let ok = 0
  await Promise.all(parseMultiaddrs('--bootstrap', addrs).map(async ma => {
    try {
      await node.dial(ma, { signal: signal ?? AbortSignal.timeout(5000) })
      ok++
    } catch {}
  }))
  return ok
}

/**
 * The addresses others can dial: the node's own listen addresses, with a 0.0.0.0 listener
 * expanded to every IPv4 interface (LAN addresses first, loopback last; QUIC before TCP), each
 * with /p2p/<id>.
 */
export function dialableAddresses (node: CodenetHost): string[] {
  const id = node.peerId.toString()
  const out: string[] = []
  const lan: string[] = []
  const loop: string[] = []
  for (const [, list] of Object.entries(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4') (i.internal ? loop : lan).push(i.address)
  }
  for (const ma of node.getMultiaddrs()) {
    const s = ma.toString().replace(/\/p2p\/[^/]+$/, '')
    const m = /^\/ip4\/0\.0\.0\.0(\/tcp\/\d+|\/udp\/\d+\/quic-v1)$/.exec(s)
    if (m !== null) for (const ip of [...lan, ...loop]) out.push(`/ip4/${ip}${m[1]}/p2p/${id}`)
    else out.push(`${s}/p2p/${id}`)
  }
  const rank = (a: string): number => (a.includes('/127.') ? 2 : 0) + (a.includes('/quic-v1/') ? 0 : 1)
  return [...new Set(out)].sort((a, b) => rank(a) - rank(b))
}

/**
 * Ask a running peer for its status over the control protocol, from a throwaway client node
 * (what `codenet status` builds on). `addr` must end in /p2p/<id>. The full status needs the
 * controller's identity (`privateKey`: node/control-auth.ts controlLibp2pKey of the control key
 * the peer obeys); any other identity gets `{ restricted, phase, step }`.
 */
export async function queryStatus (addr: string, opts: { timeoutMs?: number, swarmKey?: Uint8Array, privateKey?: PrivateKey } = {}): Promise<Record<string, unknown>> {
  const { generateKeyPair } = await import('@libp2p/crypto/keys')
  const { controlRequest } = await import('../protocols/control.ts')
  const [ma] = parseMultiaddrs('address', [addr])
  const client = await createHost({ privateKey: opts.privateKey ?? await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, swarmKey: opts.swarmKey })
  try {
    const body = await controlRequest(async (protocol, o) => await client.dialProtocol(ma, protocol, o), 'status', undefined, { timeoutMs: opts.timeoutMs ?? 10_000 })
    return body as Record<string, unknown>
  } finally {
    await client.stop()
  }
}
