/**
 * An outsider for the security tests (node/attacks.test.ts, node/lan.test.ts): a libp2p host
 * that knows a job's hash — the job file is not secret — but holds no ticket for it, and tries
 * to take part anyway.
 *
 *   groundKey   a fresh Ed25519 key ground until its peer id sorts before every given id: the
 *               barrier seats the P smallest admitted ids, so this is the id that would push an
 *               honest member out of an open job
 *   Outsider    joins the job's join topic and publishes well-formed hellos claiming to have
 *               seen every peer, its ticket rotating between none, a forged signature, a ticket
 *               stolen from an honest member's hello (valid, but for another id) and one signed
 *               by a job key of its own; it dials every address the members' hellos advertise;
 *               it can also try to open a result stream to a member
 *
 * Also a script, run inside a network namespace by node/lan.test.ts (JSON lines on stdout):
 *
 *   node node/testing/outsider.ts hello --job FILE --seconds S [--below ID,…] [--mdns] [--listen MA] [--bootstrap MA]
 *   node node/testing/outsider.ts dial --address MA [--swarm-key FILE]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { createHost, dialableAddresses, queryStatus, readSwarmKey, type CodenetHost } from '../peer.ts'
import { encodeGossip, parseHello, type Hello } from '../../protocols/gossip.ts'
import { jobHash, jobNames, parseJobSpec } from '../../protocols/job.ts'
import { generateJobKey, signTicket } from '../../protocols/admission.ts'
import { encodeFrames, lengthPrefixed } from '../../protocols/frame.ts'

/** A key whose peer id sorts before every id of `below` (the barrier's order); how many keys it took. */
export async function groundKey (below: readonly string[], maxTries = 100_000): Promise<{ key: PrivateKey, id: string, tries: number }> {
  const min = [...below].sort()[0]
  for (let tries = 1; tries <= maxTries; tries++) {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    if (min === undefined || id < min) return { key, id, tries }
  }
  throw new Error(`no id below ${min} in ${maxTries} keys`)
}

export const TICKET_KINDS = ['none', 'forged', 'stolen', 'foreign'] as const
export type TicketKind = typeof TICKET_KINDS[number]

export interface OutsiderOptions {
  key?: PrivateKey
  listen?: string[]
  mdns?: boolean
  bootstrap?: string[]
  swarmKey?: Uint8Array
}

export interface AttackOptions {
  /** The job hash and its number of peers (the hello schema depends on both). */
  job: string
  peers: number
  /** Publish period. */
  periodMs: number
  /** Claimed as seen in every hello (besides the members heard and the outsider itself). */
  claimSeen?: readonly string[]
}

export class Outsider {
  readonly host: CodenetHost
  readonly id: string
  /** The members' latest hellos as this outsider heard them. */
  readonly heard = new Map<string, Hello>()
  /** Hellos published, by the ticket they carried. */
  readonly sent: Record<TicketKind, number> = { none: 0, forged: 0, stolen: 0, foreign: 0 }
  private timer: ReturnType<typeof setInterval> | null = null
  private readonly dialled = new Set<string>()

  private constructor (host: CodenetHost) {
    this.host = host
    this.id = host.peerId.toString()
  }

  static async start (opts: OutsiderOptions = {}): Promise<Outsider> {
    const host = await createHost({
      privateKey: opts.key ?? await generateKeyPair('Ed25519'),
      listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      mdns: opts.mdns ?? false,
      bootstrap: opts.bootstrap,
      swarmKey: opts.swarmKey
    })
    const o = new Outsider(host)
    // What discovery finds (mDNS on a LAN) is dialled, as a member would.
    host.addEventListener('peer:discovery', (evt) => { o.dialOnce(evt.detail.id.toString(), async () => { await host.dial(evt.detail.id, { signal: AbortSignal.timeout(5000) }) }) })
    return o
  }

  get totalSent (): number { return Object.values(this.sent).reduce((a, b) => a + b, 0) }

  private dialOnce (peer: string, dial: () => Promise<unknown>): void {
    if (this.dialled.has(peer) || peer === this.id) return
    this.dialled.add(peer)
    dial().catch(() => { this.dialled.delete(peer) })
  }

  async dial (addr: string): Promise<void> {
    await this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
  }

  /** Listen to the join topic and publish hellos every `periodMs` until `stop`. */
  attack (opts: AttackOptions): void {
    const topic = jobNames(opts.job).topics.join
    const pubsub = this.host.services.pubsub
    pubsub.subscribe(topic)
    pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.topic !== topic) return
      const h = parseHello(msg.data, opts.job, opts.peers)
      if (h === null || h.peer === this.id) return
      this.heard.set(h.peer, h)
      // Everyone a hello names as reachable gets a connection: the outsider wants to be heard directly.
      for (const a of h.addrs) {
        const id = /\/p2p\/([^/]+)$/.exec(a)?.[1]
        if (id !== undefined && this.host.getConnections(peerIdFromString(id)).length === 0) this.dialOnce(`${id} ${a}`, async () => { await this.dial(a) })
      }
    })
    const foreignKey = generateJobKey()
    let n = 0
    const tick = (): void => {
      const kind = TICKET_KINDS[n++ % TICKET_KINDS.length]
      const ticket = this.ticket(kind, opts.job, foreignKey)
      const members = [...this.heard.values()]
      const hello: Hello = {
        type: 'hello',
        job: opts.job,
        peer: this.id,
        step: Math.max(0, ...members.map(h => h.step)),
        attempt: 0,
        ready: true,
        done: false,
        seen: [...new Set([this.id, ...this.heard.keys(), ...(opts.claimSeen ?? [])])].sort(),
        addrs: dialableAddresses(this.host).slice(0, 16),
        ...(ticket !== undefined ? { ticket } : {}),
        sent: Date.now()
      }
      pubsub.publish(topic, encodeGossip(hello)).then(() => { this.sent[kind]++ }, () => {})
    }
    this.timer = setInterval(tick, opts.periodMs)
    tick()
  }

  private ticket (kind: TicketKind, job: string, foreignKey: ReturnType<typeof generateJobKey>): string | undefined {
    if (kind === 'forged') return randomBytes(64).toString('base64')
    if (kind === 'foreign') return signTicket(foreignKey, job, this.id).ticket
    if (kind === 'stolen') return [...this.heard.values()].find(h => h.ticket !== undefined)?.ticket
    return undefined
  }

  /**
   * Open the job's result stream to `peer` and send it a well-formed frame claiming to be
   * member 0. Resolves with how the stream ended: refused at dial, or reset/closed by the
   * member (within `waitMs`), or still open (the member took it).
   */
  async tryResults (peer: string, protocol: string, job: string, step: number, waitMs = 15_000): Promise<'refused' | 'reset' | 'open'> {
    let stream
    try {
      stream = await this.host.dialProtocol(peerIdFromString(peer), protocol, { signal: AbortSignal.timeout(10_000) })
    } catch {
      return 'refused'
    }
    const closed = new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }) })
    const jobId = jobNames(job).jobId
    try {
      for (const f of encodeFrames({ jobId, step, layer: 0, attempt: 0, sender: 0, phase: 'forward', rows: 1, cols: 1 }, Float64Array.of(1))) stream.send(lengthPrefixed(f))
    } catch {
      return 'reset'
    }
    await Promise.race([closed, new Promise(resolve => setTimeout(resolve, waitMs))])
    return stream.status === 'open' ? 'open' : 'reset'
  }

  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.host.stop()
  }
}

async function main (argv: string[]): Promise<void> {
  const [mode, ...rest] = argv
  const { values } = parseArgs({
    args: rest,
    options: {
      job: { type: 'string' },
      seconds: { type: 'string' },
      below: { type: 'string' },
      mdns: { type: 'boolean' },
      listen: { type: 'string' },
      bootstrap: { type: 'string', multiple: true },
      address: { type: 'string' },
      'swarm-key': { type: 'string' }
    }
  })
  const out = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`) }
  const swarmKey = values['swarm-key'] !== undefined ? await readSwarmKey(values['swarm-key']) : undefined
  if (mode === 'dial') {
    // A dial from a host with (or without) the swarm key; with the key, a status query too.
    const address = values.address ?? ''
    const o = await Outsider.start({ listen: ['/ip4/0.0.0.0/tcp/0'], swarmKey })
    let connected = false
    let error = ''
    try { await o.dial(address); connected = true } catch (err) { error = (err as Error).message }
    await o.stop()
    // What a stranger may ask a peer: its phase (the full status is for members and the controller).
    const status = connected ? await queryStatus(address, { swarmKey, timeoutMs: 20_000 }) : null
    out({ event: 'dial', connected, error, status })
    return
  }
  if (mode !== 'hello' || values.job === undefined) throw new Error('usage: outsider.ts hello --job FILE --seconds S … | dial --address MA [--swarm-key F]')
  const spec = parseJobSpec(readFileSync(values.job, 'utf8'))
  const job = jobHash(spec)
  const below = (values.below ?? '').split(',').filter(s => s !== '')
  const { key, id, tries } = await groundKey(below)
  const o = await Outsider.start({ key, listen: [values.listen ?? '/ip4/0.0.0.0/tcp/0'], mdns: values.mdns === true, bootstrap: values.bootstrap, swarmKey })
  out({ event: 'started', id, tries, addrs: dialableAddresses(o.host) })
  o.attack({ job, peers: spec.config.peers, periodMs: 100, claimSeen: below })
  const end = Date.now() + 1000 * Number(values.seconds ?? '60')
  const report = (event: string): void => { out({ event, sent: o.sent, heard: [...o.heard.keys()].sort(), connections: o.host.getConnections().map(c => c.remotePeer.toString()) }) }
  const stop = async (): Promise<void> => { report('done'); await o.stop(); process.exit(0) }
  process.once('SIGTERM', () => { void stop() })
  while (Date.now() < end) {
    await new Promise(resolve => setTimeout(resolve, 2000))
    report('progress')
  }
  await stop()
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: Error) => { process.stderr.write(`outsider: ${err.message}\n`); process.exit(1) })
}
