/**
 * A peer's membership of its job (node/engine.ts runs it): hellos on the job's join topic
 * (every 500 ms while joining, every 5 s once training runs), the join barrier they feed, and
 * keeping the bootstrap peers, the members and what discovery finds dialed. Member addresses
 * learnt from hellos go to the peer store and, every few seconds, to the data dir (a hint for
 * restarts).
 *
 * Strangers cannot jam it: only hellos of admitted peers (protocols/admission.ts) reach the
 * barrier, and once it closed only the members' do; nothing else is written to the peer store;
 * the barrier's view is bounded and ages out silent joiners; drops are logged at most once a
 * second (counted in `dropped`).
 */
import type { Logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { JoinBarrier } from '../protocols/job.ts'
import type { Admission } from '../protocols/admission.ts'
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
  /** Who may take part, and this peer's own ticket (sent in its hellos). */
  admission: Admission
  ticket?: string
}

/** Why a hello was dropped: 'stale' is an honest hello overtaken by a newer one (not the sender's fault). */
export type HelloDrop = 'malformed' | 'not-admitted' | 'not-a-member' | 'stale'

/** Hello period while joining (the barrier and the start wait on hellos) and once training runs. */
export const HELLO_JOINING_MS = 500
export const HELLO_TRAINING_MS = 5000
/** While joining, a hello that tells this peer something new is answered after at least this long. */
export const HELLO_ANSWER_GAP_MS = 100

export class Membership {
  readonly barrier: JoinBarrier
  /** The agreed members in index order, once the barrier closed (empty before). */
  members: PeerId[] = []
  private readonly host: CodenetHost
  private readonly opts: MembershipOptions
  private helloTimer: ReturnType<typeof setInterval> | null = null
  private knownPeers: string[] = []
  private knownPeersSavedAt = 0
  private helloPeriod = HELLO_JOINING_MS
  /** Hellos dropped (malformed, not admitted, not a member), by reason. */
  readonly dropped: Record<string, number> = {}
  private lastDropLog = 0
  private lastPrompted = 0
  private lastAnswered = 0
  private answerTimer: ReturnType<typeof setTimeout> | null = null

  constructor (host: CodenetHost, opts: MembershipOptions) {
    this.host = host
    this.opts = opts
    this.barrier = new JoinBarrier(host.peerId.toString(), opts.peers, p => opts.admission.known(p))
  }

  /** True once `peer` is a member (after the barrier) or, before it, an admitted joiner. */
  accepts (peer: string): boolean {
    return this.members.length > 0 ? this.members.some(m => m.toString() === peer) : this.opts.admission.known(peer)
  }

  private drop (reason: string, from: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
    const t = Date.now()
    if (t - this.lastDropLog < 1000) return
    this.lastDropLog = t
    this.opts.log('dropped a hello from %s (%s); dropped so far: %o', from, reason, this.dropped)
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
    this.schedule(HELLO_JOINING_MS)
    void this.tick()
  }

  /** Once training runs, hellos only keep membership fresh: every few seconds. */
  training (): void { if (this.helloPeriod !== HELLO_TRAINING_MS) this.schedule(HELLO_TRAINING_MS) }

  private schedule (ms: number): void {
    if (this.helloTimer !== null) clearInterval(this.helloTimer)
    this.helloPeriod = ms
    this.helloTimer = setInterval(() => { void this.tick() }, ms)
  }

  stop (): void {
    if (this.helloTimer !== null) clearInterval(this.helloTimer)
    this.helloTimer = null
    if (this.answerTimer !== null) clearTimeout(this.answerTimer)
    this.answerTimer = null
  }

  /**
   * While joining, say hello soon after learning something (a new peer, or a peer that has not
   * seen all we have): the barrier closes within a few message delays instead of a few hello
   * periods. At most one answer per HELLO_ANSWER_GAP_MS; a later one waits for the gap.
   */
  private answer (): void {
    if (this.answerTimer !== null || this.helloTimer === null) return
    const wait = Math.max(0, this.lastAnswered + HELLO_ANSWER_GAP_MS - Date.now())
    this.answerTimer = setTimeout(() => {
      this.answerTimer = null
      this.lastAnswered = Date.now()
      void this.tick()
    }, wait)
  }

  private hello (): Hello {
    return {
      type: 'hello',
      job: this.opts.job,
      peer: this.host.peerId.toString(),
      ...this.opts.progress(),
      // After the barrier only the members are advertised.
      seen: this.members.length > 0 ? this.members.map(m => m.toString()).sort() : this.barrier.seen(),
      addrs: dialableAddresses(this.host).slice(0, 16),
      ...(this.opts.ticket !== undefined ? { ticket: this.opts.ticket } : {}),
      sent: Date.now()
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

  /** Every hello period: say hello, keep the bootstrap peers and the members connected. */
  async tick (): Promise<void> {
    if (this.members.length === 0) this.barrier.age()
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

  /**
   * The join topic's validator (it runs before gossip forwards a message): a hello this job
   * accepts — well formed, signed by the peer it names, admitted, a member once the barrier
   * closed, and newer than the last one from that peer (a replayed hello is stale). Null when not.
   */
  validate (from: string, data: Uint8Array): { hello: Hello } | { drop: HelloDrop } {
    const h = parseHello(data, this.opts.job, this.opts.peers)
    const verdict: HelloDrop | null = h === null || h.peer !== from
      ? 'malformed'
      : !this.opts.admission.admits(h.peer, h.ticket)
          ? 'not-admitted'
          : this.members.length > 0 && !this.accepts(h.peer)
            ? 'not-a-member'
            // Out of order by another gossip path, or replayed: older than what we have.
            : (this.barrier.helloOf(h.peer)?.sent ?? -1) > (h.sent ?? Infinity) ? 'stale' : null
    if (verdict !== null || h === null) { this.drop(verdict ?? 'malformed', from); return { drop: verdict ?? 'malformed' } }
    return { hello: h }
  }

  onHello (from: string, data: Uint8Array): void {
    const v = this.validate(from, data)
    if (!('hello' in v)) return
    const h = v.hello
    // A member (re)joining while we train waits for a hello from every member to close its
    // barrier: answer at once instead of at the next (slow) training hello.
    if (this.members.length > 0 && !h.ready && Date.now() - this.lastPrompted > HELLO_JOINING_MS) {
      this.lastPrompted = Date.now()
      void this.tick()
    }
    const before = this.members.length === 0 ? this.barrier.seen() : null
    this.barrier.observe(h)
    if (before !== null) {
      const mine = this.barrier.seen()
      if (mine.length !== before.length || mine.some(p => !h.seen.includes(p))) this.answer()
    }
    // Learn where the peer listens, so a restarted peer (new port) is reachable again.
    try {
      const id = peerIdFromString(h.peer)
      const addrs = h.addrs.flatMap(a => { try { return [multiaddr(a.replace(/\/p2p\/[^/]+$/, ''))] } catch { return [] } })
      if (addrs.length > 0) void this.host.peerStore.merge(id, { multiaddrs: addrs }).catch(() => {})
    } catch {}
  }
}
