/**
 * Building blocks shared by the JSON message schemas (zod): peer ids, bounded integers and
 * strings, bounded records, and the one-line rendering of a validation failure.
 *
 * Every JSON document that crosses the wire has one schema, and its TypeScript type is derived
 * from it (`z.infer`):
 *   protocols/gossip.ts          hello (join topic), verdict (verdict topic)
 *   protocols/control.ts         control request / response envelopes
 *   protocols/fault-command.ts   the `fault` command body and the fault replies
 *   protocols/status.ts          the `status` answer (PeerStatus)
 * The binary result frames (protocols/frame.ts) are the per-step hot path and stay hand-decoded.
 */
import { z } from 'zod'

/** A libp2p peer id as text (base58btc). */
export const PEER_ID_RE = /^[1-9A-HJ-NP-Za-km-z]{20,128}$/
export const peerIdSchema = z.string().regex(PEER_ID_RE)

/** A whole number in [min, max] (safe integers only). */
export const int = (min: number, max: number = Number.MAX_SAFE_INTEGER, params?: { error: string }) => z.int(params).min(min, params).max(max, params)
/** A whole number ≥ 0: counters, steps. */
export const count = () => z.int().min(0)

/** A string of at most `max` UTF-16 units. */
export const text = (max: number) => z.string().max(max)

/** A `{ [key]: number }` record with at most `maxKeys` short keys. */
export const numberRecord = (maxKeys: number, value: z.ZodType<number> = z.number()): z.ZodType<Record<string, number>> =>
  z.record(text(64), value).refine(r => Object.keys(r).length <= maxKeys, { error: `more than ${maxKeys} entries` })

/** A validation failure as one line: `field.path: message` of the first few issues. */
export function issueLine (err: z.ZodError, max = 3): string {
  const parts = err.issues.slice(0, max).map(i => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`)
  if (err.issues.length > max) parts.push(`(${err.issues.length - max} more)`)
  return parts.join('; ')
}
