/**
 * A peer's membership of its job (node/engine.ts runs it): hellos on the job's join topic
 * every 500 ms, the join barrier they feed, and keeping the bootstrap peers, the members and
 * what discovery finds dialed. Member addresses learnt from hellos go to the peer store and,
 * every few seconds, to the data dir (a hint for restarts).
 */
import type { Logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { JoinBarrier } from '../protocols/job.ts'
import { parseHello, encodeGossip, type Hello } from '../protocols/gossip.ts'
import { dialableAddresses, type CodenetHost } from './peer.ts'
import { saveKnownPeers, loadKnownPeers } from './store.ts'

export interface MembershipOptions {
  /** The job hash. */
  job: string
  /** Members the job needs (P). */
  peers: number
  joinTopic: string
  dataDir: string
  bootstrap?: string[]
  log: Logger
  /** What this peer's hello says about it. */
  progress: () => Pick<Hello, 'step' | 'attempt' | 'ready' | 'done'>
}

export class Membership {
  readonly barrier: JoinBarrier
  /** The agreed members in index order, once the barrier closed (empty before). */
  members: PeerId[] = []
  private readonly host: CodenetHost
  private readonly opts: MembershipOptions
  private helloTimer: ReturnType<typeof setInterval> | null = null
  private knownPeers: string[] = []
  private knownPeersSavedAt = 0

  constructor (host: CodenetHost, opts: MembershipOptions) {
    this.host = host
    this.opts = opts
    this.barrier = new JoinBarrier(host.peerId.toString(), opts.peers)
  }

  /** Loads the members this data dir knew last time and dials what discovery finds. */
  async start (): Promise<void> {
    this.knownPeers = await loadKnownPeers(this.opts.dataDir)
    // libp2p 3 does not dial what discovery (mDNS, bootstrap) finds: we do, while it is cheap.
    this.host.addEventListener('peer:discovery', (evt) => {
      const id = evt.detail.id
      if (id.equals(this.host.peerId) || this.host.getConnections(id).length > 0 || this.host.getConnections().length > 64) return
      this.opts.log('discovered %s', id.toString())
      this.host.dial(id, { signal: AbortSignal.timeout(5000) }).catch((err: Error) => { this.opts.log('dial %s failed: %s', id.toString(), err.message) })
    })
  }

  startHellos (): void {
    this.helloTimer = setInterval(() => { void this.tick() }, 500)
    void this.tick()
  }

  stop (): void {
    if (this.helloTimer !== null) clearInterval(this.helloTimer)
    this.helloTimer = null
  }

  private hello (): Hello {
    return {
      type: 'hello',
      job: this.opts.job,
      peer: this.host.peerId.toString(),
      ...this.opts.progress(),
      seen: this.barrier.seen(),
      addrs: dialableAddresses(this.host).slice(0, 16)
    }
  }

  /** Member addresses from their hellos, saved in the data dir every few seconds (a hint for restarts). */
  private async rememberPeers (): Promise<void> {
    if (this.members.length === 0 || Date.now() - this.knownPeersSavedAt < 5000) return
    this.knownPeersSavedAt = Date.now()
    const addrs: string[] = []
    for (const m of this.members) {
      const h = this.barrier.helloOf(m.toString())
      if (h === undefined || m.equals(this.host.peerId)) continue
      for (const a of h.addrs) if (a.endsWith(`/p2p/${h.peer}`)) addrs.push(a)
    }
    if (addrs.length > 0) await saveKnownPeers(this.opts.dataDir, addrs).catch(() => {})
  }

  /** Every 500 ms: say hello, keep the bootstrap peers and the members connected. */
  async tick (): Promise<void> {
    try {
      await this.host.services.pubsub.publish(this.opts.joinTopic, encodeGossip(this.hello()))
    } catch (err) {
      this.opts.log('hello not sent: %s', (err as Error).message)
    }
    const connected = new Set(this.host.getConnections().map(c => c.remotePeer.toString()))
    void this.rememberPeers()
    // Until the barrier closes, also try the members this data dir knew last time.
    const contacts = this.members.length === 0 ? [...(this.opts.bootstrap ?? []), ...this.knownPeers] : (this.opts.bootstrap ?? [])
    for (const addr of contacts) {
      const id = /\/p2p\/([^/]+)$/.exec(addr)?.[1]
      if (id !== undefined && (connected.has(id) || id === this.host.peerId.toString())) continue
      try { this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(2000) }).catch(() => {}) } catch {}
    }
    for (const m of this.members) {
      if (m.equals(this.host.peerId) || connected.has(m.toString())) continue
      this.host.dial(m, { signal: AbortSignal.timeout(2000) }).catch(() => {})
    }
  }

  onHello (from: string, data: Uint8Array): void {
    const h = parseHello(data, this.opts.job, this.opts.peers)
    if (h === null || h.peer !== from) { this.opts.log('dropped a malformed hello from %s', from); return }
    this.barrier.observe(h)
    // Learn where the peer listens, so a restarted peer (new port) is reachable again.
    try {
      const id = peerIdFromString(h.peer)
      const addrs = h.addrs.flatMap(a => { try { return [multiaddr(a.replace(/\/p2p\/[^/]+$/, ''))] } catch { return [] } })
      if (addrs.length > 0) void this.host.peerStore.merge(id, { multiaddrs: addrs }).catch(() => {})
    } catch {}
  }
}
