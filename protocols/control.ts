/**
 * The control protocol (`/codenet/control/1.0.0`): one request, one response per stream, each a
 * u32-length-prefixed JSON document with a size cap.
 *
 * Request envelope: `{ v: 1, type, id, body?, signer?, signature? }`. Today the only type is
 * `status`. The envelope already has room for signed commands (`fault`, `fault-clear`, …): a
 * later version verifies `signature` over the canonical JSON of `{ v, type, id, body }` with the
 * `signer` key against the job's authorised keys; this version answers any other type with
 * `{ ok: false, error: 'unsupported' }`, so old peers refuse new commands cleanly.
 *
 * Response: `{ v: 1, id, ok: true, body }` or `{ v: 1, id, ok: false, error }`.
 */
import type { Stream, PeerId, Connection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { logger } from '@libp2p/logger'

export const CONTROL_PROTOCOL = '/codenet/control/1.0.0'
export const MAX_CONTROL_REQUEST = 64 * 1024
export const MAX_CONTROL_RESPONSE = 4 * 1024 * 1024
export const CONTROL_VERSION = 1

export class ControlError extends Error {
  override name = 'ControlError'
}

export interface ControlRequest {
  v: number
  type: string
  id: string
  body?: unknown
  signer?: string
  signature?: string
}

export type ControlResponse =
  | { v: number, id: string, ok: true, body: unknown }
  | { v: number, id: string, ok: false, error: string }

const log = logger('codenet:control')

function frame (obj: unknown, max: number): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(obj))
  if (body.length > max) throw new ControlError(`control message of ${body.length} bytes exceeds ${max}`)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/** Read one length-prefixed JSON message of at most `max` bytes. */
export async function readMessage (stream: Stream, max: number, signal: AbortSignal): Promise<unknown> {
  const chunks: Uint8Array[] = []
  let have = 0
  let need = -1
  const onAbort = (): void => { stream.abort(new ControlError('control request timed out')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const c of stream as AsyncIterable<Uint8Array | Uint8ArrayList>) {
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
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (signal.aborted) throw new ControlError('control request timed out')
  if (need < 0 || have < 4 + need) throw new ControlError('control stream ended before a whole message')
  const all = concat(chunks, have)
  try {
    return JSON.parse(new TextDecoder().decode(all.subarray(4, 4 + need)))
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

export function parseRequest (v: unknown): ControlRequest {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ControlError('request must be a JSON object')
  const r = v as Record<string, unknown>
  if (r.v !== CONTROL_VERSION) throw new ControlError(`unsupported control version ${String(r.v)}`)
  if (typeof r.type !== 'string' || r.type.length > 64) throw new ControlError('request type missing')
  if (typeof r.id !== 'string' || r.id.length > 128) throw new ControlError('request id missing')
  return r as unknown as ControlRequest
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
      res = { v: CONTROL_VERSION, id, ok: false, error: (err as Error).message }
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
    const res = await readMessage(stream, MAX_CONTROL_RESPONSE, signal) as ControlResponse
    if (res === null || typeof res !== 'object' || res.id !== id) throw new ControlError('control response does not answer the request')
    if (!res.ok) throw new ControlError(`peer refused '${type}': ${res.error}`)
    return res.body
  } finally {
    await stream.close({ signal }).catch(() => { stream.abort(new ControlError('closed')) })
  }
}
