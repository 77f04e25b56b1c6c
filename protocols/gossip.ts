/**
 * The job's gossip messages, small JSON documents on the job's two topics (protocols/job.ts
 * names them):
 *
 *   hello     join topic: "I am in this job, at this step, and I have seen these members"
 *             (the join barrier, protocols/job.ts)
 *   verdict   verdict topic: the agreed outcome of one attempt of one step (rollback, flagged,
 *             repaired peer indices), cross-checked by every member
 *
 * Acceptance: at most MAX_GOSSIP_BYTES, JSON, the right `type`, this job's hash, a peer id, whole
 * steps and attempts ≥ 0, `seen` at most 256 peer ids (the barrier keeps the admitted ones), at most 32 addresses under 256 characters,
 * peer indices in [0, P) and at most P of them. Anything else is dropped (null), never thrown.
 * The schemas depend on the job (hash, P): `helloSchema(job, P)` / `verdictSchema(job, P)`.
 */
import { z } from 'zod'
import { int, peerIdSchema, text } from './schema.ts'
import { ticketSchema } from './admission.ts'

/** Gossip messages on the job topics are small JSON documents. */
export const MAX_GOSSIP_BYTES = 16 * 1024
export const MAX_HELLO_ADDRS = 32
/** A hello may list this many peers it has seen; the barrier keeps the admitted ones, at most 2·P. */
export const MAX_HELLO_SEEN = 256

export const helloSchema = (job: string, maxPeers: number) => z.object({
  type: z.literal('hello'),
  job: z.literal(job),
  peer: peerIdSchema,
  /** Steps this peer has completed (0 before training). */
  step: int(0),
  /** The attempt (rollback count) of its current step, as on the wire. */
  attempt: int(0),
  /** True once its result exchange is listening: training starts when every member is ready. */
  ready: z.boolean(),
  /** True once it has finished the job (it is about to leave). */
  done: z.boolean(),
  /** Members this peer has seen, itself included (long lists are filtered by the barrier, not refused). */
  seen: z.array(peerIdSchema).max(Math.max(MAX_HELLO_SEEN, maxPeers * 2)),
  /** Addresses this peer can be dialled at. */
  addrs: z.array(text(255)).max(MAX_HELLO_ADDRS),
  /** Its admission ticket, when the job admits by key (protocols/admission.ts). */
  ticket: ticketSchema.optional(),
  /** The sender's clock (ms) when it sent this hello: a hello older than the last one heard from that peer is a replay. */
  sent: int(0).optional()
})

/** A hello: "I am in this job, at this step, and I have seen these members". */
export type Hello = z.infer<ReturnType<typeof helloSchema>>

export const verdictSchema = (job: string, peers: number) => {
  const indices = z.array(int(0, peers - 1)).max(peers)
  return z.object({
    type: z.literal('verdict'),
    job: z.literal(job),
    peer: peerIdSchema,
    step: int(0),
    attempt: int(0),
    rollback: z.boolean(),
    /** Peer indices the agreed verdict flagged. */
    flagged: indices,
    /** Peer indices whose shards were repaired. */
    repaired: indices
  })
}

/** One attempt's agreed verdict, as a member saw it. */
export type Verdict = z.infer<ReturnType<typeof verdictSchema>>

/** One schema per (job, P) at a time: a peer runs one job, so the cache is a single entry. */
function cached<S> (make: (job: string, peers: number) => S): (job: string, peers: number) => S {
  let key = ''
  let schema: S | null = null
  return (job, peers) => {
    const k = `${job}\u0000${peers}`
    if (schema === null || k !== key) { schema = make(job, peers); key = k }
    return schema
  }
}
const helloFor = cached(helloSchema)
const verdictFor = cached(verdictSchema)

const decoder = new TextDecoder()

function decode (data: Uint8Array): unknown {
  if (data.length > MAX_GOSSIP_BYTES) return undefined
  try { return JSON.parse(decoder.decode(data)) } catch { return undefined }
}

/** Parse a gossip hello; null when it is not one (the caller drops and scores it). */
export function parseHello (data: Uint8Array, job: string, maxPeers: number): Hello | null {
  const r = helloFor(job, maxPeers).safeParse(decode(data))
  return r.success ? r.data : null
}

/** Parse a gossip verdict of a job of `peers` members; null when it is not one. */
export function parseVerdict (data: Uint8Array, job: string, peers: number): Verdict | null {
  const r = verdictFor(job, peers).safeParse(decode(data))
  return r.success ? r.data : null
}

export function encodeGossip (msg: Hello | Verdict): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(msg))
}
