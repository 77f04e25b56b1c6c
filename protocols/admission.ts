/**
 * Who may take part in a job. A job spec names its members in one of two ways (or both):
 *
 *   members   peer ids listed in the job itself (the local testnet does this: it creates the
 *             peers' identities first, so it knows them)
 *   key       an Ed25519 public key (SPKI DER, base64): a peer is admitted by a ticket, the
 *             job key's signature over `codenet-ticket/1 <job hash> <peer id>`, which the job's
 *             owner makes with `codenet job admit PEER_ID` and the peer presents in its hellos
 *
 * The admission is part of the spec, so it is covered by the job hash: a peer cannot be told a
 * different member list without its job hash changing. A ticket names the job hash, so it
 * admits to one job only. A spec with no admission is an open job (the pre-admission format):
 * anyone holding the job hash may take a seat; peers warn loudly when they run one.
 *
 * Verifying a ticket costs one Ed25519 verification; results are cached per (peer, ticket), so
 * a stream of hellos costs a map lookup each.
 */
import { createPublicKey, createPrivateKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { peerIdSchema, text } from './schema.ts'

export class AdmissionError extends Error {
  override name = 'AdmissionError'
}

/** A job lists at most this many members (the codes are validated for far fewer peers). */
export const MAX_LISTED_MEMBERS = 256
/** An Ed25519 signature, base64: 88 characters. */
const TICKET_RE = /^[A-Za-z0-9+/]{86}==$/

export const admissionSchema = z.object({
  members: z.array(peerIdSchema).min(1).max(MAX_LISTED_MEMBERS).optional(),
  key: text(128).regex(/^[A-Za-z0-9+/]+={0,2}$/).optional()
}).strict().refine(a => a.members !== undefined || a.key !== undefined, { error: 'admission must name members or a key' })

export type AdmissionSpec = z.infer<typeof admissionSchema>

export const ticketSchema = z.string().regex(TICKET_RE)

/** The file `codenet job admit` writes and `codenet peer --ticket` reads. */
export const ticketFileSchema = z.object({
  type: z.literal('codenet-ticket'),
  job: z.string().regex(/^[0-9a-f]{64}$/),
  peer: peerIdSchema,
  ticket: ticketSchema
}).strict()
export type TicketFile = z.infer<typeof ticketFileSchema>

const ticketBytes = (job: string, peer: string): Buffer => Buffer.from(`codenet-ticket/1 ${job} ${peer}`, 'utf8')

export function publicKeyText (key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64')
}

export function generateJobKey (): KeyObject {
  return generateKeyPairSync('ed25519').privateKey
}

export function jobKeyToPem (key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string
}

export function jobKeyFromPem (pem: string, where: string): KeyObject {
  let k: KeyObject
  try { k = createPrivateKey(pem) } catch { throw new AdmissionError(`${where} is not a PEM private key`) }
  if (k.asymmetricKeyType !== 'ed25519') throw new AdmissionError(`${where} is a ${String(k.asymmetricKeyType)} key, not Ed25519`)
  return k
}

/** The job key's ticket admitting `peer` to the job `job` (a hash). */
export function signTicket (key: KeyObject, job: string, peer: string): TicketFile {
  if (!/^[0-9a-f]{64}$/.test(job)) throw new AdmissionError(`not a job hash: '${job}'`)
  if (!peerIdSchema.safeParse(peer).success) throw new AdmissionError(`not a peer id: '${peer}'`)
  return { type: 'codenet-ticket', job, peer, ticket: sign(null, ticketBytes(job, peer), key).toString('base64') }
}

export function parseTicketFile (text: string, where: string): TicketFile {
  let raw: unknown
  try { raw = JSON.parse(text) } catch { throw new AdmissionError(`${where} is not a ticket (not JSON)`) }
  const r = ticketFileSchema.safeParse(raw)
  if (!r.success) throw new AdmissionError(`${where} is not a ticket (${r.error.issues[0]?.path.join('.') ?? ''}: ${r.error.issues[0]?.message ?? 'invalid'})`)
  return r.data
}

/** The admission rule of one job, with a cache of verified tickets. */
export class Admission {
  readonly open: boolean
  private readonly job: string
  private readonly listed: ReadonlySet<string>
  private readonly key: KeyObject | null
  /** peer → the ticket that verified (a peer re-sends the same ticket in every hello). */
  private readonly verified = new Map<string, string>()
  private readonly refused = new Map<string, string>()

  constructor (job: string, spec: AdmissionSpec | undefined) {
    this.job = job
    this.open = spec === undefined
    this.listed = new Set(spec?.members ?? [])
    let key: KeyObject | null = null
    if (spec?.key !== undefined) {
      try {
        key = createPublicKey({ key: Buffer.from(spec.key, 'base64'), format: 'der', type: 'spki' })
      } catch { throw new AdmissionError('the job\'s admission key is not an SPKI public key') }
      if (key.asymmetricKeyType !== 'ed25519') throw new AdmissionError('the job\'s admission key is not Ed25519')
    }
    this.key = key
  }

  /** True when `peer` may take part: listed, or holding a valid ticket (or the job is open). */
  admits (peer: string, ticket?: string): boolean {
    if (this.open || this.listed.has(peer)) return true
    if (this.key === null || ticket === undefined) return false
    if (this.verified.get(peer) === ticket) return true
    if (this.refused.get(peer) === ticket) return false
    let ok = false
    try { ok = TICKET_RE.test(ticket) && verify(null, ticketBytes(this.job, peer), this.key, Buffer.from(ticket, 'base64')) } catch { ok = false }
    // Bounded: a flood of forged tickets from many ids must not grow the caches without end.
    const cache = ok ? this.verified : this.refused
    if (cache.size >= 4 * MAX_LISTED_MEMBERS) cache.delete(cache.keys().next().value as string)
    cache.set(peer, ticket)
    return ok
  }

  /** Admitted earlier (listed, or a ticket that verified): for messages that carry no ticket. */
  known (peer: string): boolean {
    return this.open || this.listed.has(peer) || this.verified.has(peer)
  }
}
