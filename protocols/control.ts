/**
 * The control protocol (`/codenet/control/1.0.0`): one request, one response per stream, each a
 * u32-length-prefixed JSON document with a size cap.
 *
 * Request envelope: `{ v: 1, type, id, body?, signer?, signature? }`. Types:
 *   status        unsigned; answers the peer's status document (protocols/status.ts)
 *   fault         signed; body a fault command (protocols/fault-command.ts)
 *   fault-clear   signed; body `{}`
 * A signed command carries `signer` (the public key), `target` (the one peer, job and boot of that
 * peer it is meant for: the boot nonce is what the peer's `status` answers under
 * `controller.boot`, new at every start), `issuedAt`/`expiresAt` (the signer's clock), and
 * `signature` over the canonical JSON of `{ v, type, id, body, target, issuedAt, expiresAt }`.
 * The peer checks it against the testnet's control key, refuses commands for another peer, job
 * or boot, expired ones, and replays (node/control-auth.ts). A type the peer has no handler for
 * is answered with `{ ok: false, error: 'unsupported' }`, so old peers refuse new commands
 * cleanly.
 *
 * Response: `{ v: 1, id, ok: true, body }` or `{ v: 1, id, ok: false, error }`.
 *
 * Both envelopes have a schema (below); a malformed request is answered with an error, a
 * malformed response is a ControlError at the client: neither throws out of a handler.
 */
import type { Stream, PeerId, Connection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { logger } from '@libp2p/logger'
import { pipe } from 'it-pipe'
import { z } from 'zod'
import { int, issueLine, peerIdSchema, text } from './schema.ts'

export const CONTROL_PROTOCOL = '/codenet/control/1.0.0'
export const MAX_CONTROL_REQUEST = 64 * 1024
export const MAX_CONTROL_RESPONSE = 4 * 1024 * 1024
export const CONTROL_VERSION = 1

export class ControlError extends Error {
  override name = 'ControlError'
}

/** Longest `error` a response may carry. */
export const MAX_CONTROL_ERROR = 8 * 1024

/**
 * What a signed command is bound to: the peer it is for, the job hash that peer runs, and that
 * peer's current boot nonce (its status's `controller.boot`). A command for another peer, job or
 * boot is refused, so a captured envelope is useless anywhere but where, and when, it was sent.
 */
export const controlTargetSchema = z.object({
  peer: peerIdSchema,
  job: text(128),
  boot: text(64)
})
export type ControlTarget = z.infer<typeof controlTargetSchema>

export const controlRequestSchema = z.object({
  v: z.literal(CONTROL_VERSION, { error: iss => `unsupported control version ${String(iss.input)}` }),
  type: text(64),
  id: text(128),
  body: z.unknown().optional(),
  /** Signed commands: the signer's public key (SPKI DER, base64) and the signature (base64). */
  signer: text(1024).optional(),
  signature: text(1024).optional(),
  /** Signed commands: the peer, job and boot the command is for. */
  target: controlTargetSchema.optional(),
  /** Signed commands: when it was signed and when it stops being valid (ms since the epoch, signer's clock). */
  issuedAt: int(0).optional(),
  expiresAt: int(0).optional()
})
export type ControlRequest = z.infer<typeof controlRequestSchema>

export const controlResponseSchema = z.discriminatedUnion('ok', [
  z.object({ v: z.literal(CONTROL_VERSION), id: text(128), ok: z.literal(true), body: z.unknown() }),
  z.object({ v: z.literal(CONTROL_VERSION), id: text(128), ok: z.literal(false), error: text(MAX_CONTROL_ERROR) })
])
export type ControlResponse = z.infer<typeof controlResponseSchema>

const log = logger('codenet:control')

function frame (obj: unknown, max: number): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(obj))
  if (body.length > max) throw new ControlError(`control message of ${body.length} bytes exceeds ${max}`)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/**
 * The first u32-length-prefixed message of a byte stream, capped at `max` bytes: yields its
 * body once, then stops reading. Throws ControlError on an oversized or truncated message.
 */
async function * lengthPrefixedMessage (source: AsyncIterable<Uint8Array | Uint8ArrayList>, max: number): AsyncGenerator<Uint8Array> {
  const chunks: Uint8Array[] = []
  let have = 0
  let need = -1
  for await (const c of source) {
    const b = c instanceof Uint8Array ? c : c.subarray()
    chunks.push(b)
    have += b.length
    if (need < 0 && have >= 4) {
      const all = concat(chunks, have)
      need = new DataView(all.buffer, all.byteOffset).getUint32(0)
      if (need > max) throw new ControlError(`control message of ${need} bytes exceeds ${max}`)
    }
    if (have > 4 + max) throw new ControlError('control message longer than its cap')
    if (need >= 0 && have >= 4 + need) break
  }
  if (need < 0 || have < 4 + need) throw new ControlError('control stream ended before a whole message')
  yield concat(chunks, have).subarray(4, 4 + need)
}

/** Read one length-prefixed JSON message of at most `max` bytes: stream → length prefix → JSON. */
export async function readMessage (stream: Stream, max: number, signal: AbortSignal): Promise<unknown> {
  const onAbort = (): void => { stream.abort(new ControlError('control request timed out')) }
  signal.addEventListener('abort', onAbort, { once: true })
  let body: Uint8Array | undefined
  try {
    body = await pipe(
      stream as AsyncIterable<Uint8Array | Uint8ArrayList>,
      async function * (source) { yield * lengthPrefixedMessage(source, max) },
      async (messages) => { for await (const m of messages) return m; return undefined }
    )
  } catch (err) {
    if (signal.aborted) throw new ControlError('control request timed out')
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (signal.aborted) throw new ControlError('control request timed out')
  if (body === undefined) throw new ControlError('control stream ended before a whole message')
  try {
    return JSON.parse(new TextDecoder().decode(body))
  } catch {
    throw new ControlError('control message is not JSON')
  }
}

function concat (chunks: Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(n)
  let o = 0
  for (const c of chunks) { out.set(c, o); o += c.length }
  return out
}

/** Validates a request envelope. Throws ControlError naming what is wrong. */
export function parseRequest (v: unknown): ControlRequest {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ControlError('request must be a JSON object')
  const r = controlRequestSchema.safeParse(v)
  if (!r.success) throw new ControlError(`bad control request: ${issueLine(r.error)}`)
  return r.data
}

/** Validates the response to request `id`: its body when it is ok, else ControlError. */
export function parseResponse (v: unknown, id: string, type: string): unknown {
  const r = controlResponseSchema.safeParse(v)
  if (!r.success) throw new ControlError(`malformed control response: ${issueLine(r.error)}`)
  if (r.data.id !== id) throw new ControlError('control response does not answer the request')
  if (!r.data.ok) throw new ControlError(`peer refused '${type}': ${r.data.error}`)
  return r.data.body
}

export type ControlHandlers = Record<string, (req: ControlRequest, from: PeerId) => Promise<unknown> | unknown>

/** The server side: answers each stream's one request through `handlers[type]`. Never throws. */
export function controlStreamHandler (handlers: ControlHandlers, timeoutMs = 10_000) {
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const signal = AbortSignal.timeout(timeoutMs)
    let id = ''
    let res: ControlResponse
    try {
      const req = parseRequest(await readMessage(stream, MAX_CONTROL_REQUEST, signal))
      id = req.id
      const h = Object.hasOwn(handlers, req.type) ? handlers[req.type] : undefined
      res = h === undefined
        ? { v: CONTROL_VERSION, id, ok: false, error: 'unsupported' }
        : { v: CONTROL_VERSION, id, ok: true, body: await h(req, connection.remotePeer) }
    } catch (err) {
      res = { v: CONTROL_VERSION, id, ok: false, error: (err as Error).message.slice(0, MAX_CONTROL_ERROR) }
    }
    try {
      const bytes = frame(res, MAX_CONTROL_RESPONSE)
      if (!stream.send(bytes)) await stream.onDrain({ signal })
      await stream.close({ signal })
    } catch (err) {
      log('control response failed: %s', (err as Error).message)
      stream.abort(err as Error)
    }
  }
}

/** The client side: one request, one response. */
export async function controlRequest (
  dial: (protocol: string, opts: { signal: AbortSignal }) => Promise<Stream>,
  type: string,
  body?: unknown,
  opts: { signal?: AbortSignal, timeoutMs?: number } = {}
): Promise<unknown> {
  const signal = opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 10_000)
  const stream = await dial(CONTROL_PROTOCOL, { signal })
  try {
    const id = Math.random().toString(36).slice(2)
    const req: ControlRequest = { v: CONTROL_VERSION, type, id, ...(body !== undefined ? { body } : {}) }
    if (!stream.send(frame(req, MAX_CONTROL_REQUEST))) await stream.onDrain({ signal })
    return parseResponse(await readMessage(stream, MAX_CONTROL_RESPONSE, signal), id, type)
  } finally {
    await stream.close({ signal }).catch(() => { stream.abort(new ControlError('closed')) })
  }
}
