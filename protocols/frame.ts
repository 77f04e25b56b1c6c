/**
 * The binary result frame peers exchange over result streams, and the incremental reader that
 * cuts a byte stream into frames.
 *
 * One frame carries one chunk of one peer's result for one round:
 *
 *   offset size  field
 *   0      2     magic 'CN' (0x43 0x4e)
 *   2      1     version (1)
 *   3      1     flags (0, reserved)
 *   4      8     job id: the first 8 bytes of the job hash, so frames of another job are dropped
 *   12     4     step (u32)
 *   16     2     layer (i16: −1 names a round about the whole model, e.g. verdicts)
 *   18     2     attempt (u16)
 *   20     2     sender index (u16)
 *   22     1     phase length L (1..MAX_PHASE_LENGTH = 32), then L bytes [a-z0-9-]
 *   23+L   4     rows (u32)
 *          4     cols (u32)
 *          2     chunk index (u16)
 *          2     chunk count (u16)
 *          4     element count E of this chunk (u32)
 *          8·E   payload, float64 little-endian
 *
 * Integers are big-endian. Chunk i of a rows×cols payload covers elements
 * [i·CHUNK_ELEMENTS, min((i+1)·CHUNK_ELEMENTS, rows·cols)), so the decoder can check E exactly
 * and a receiver can reassemble with a fixed-size buffer it allocates only after the shape has
 * passed the caps. On the stream each frame is preceded by its length (u32 big-endian).
 *
 * Decoding never trusts a field before checking it against a cap, never allocates more than the
 * checked element count, and rejects NaN/±Infinity in the payload: a peer that sends them is
 * either broken or hostile, and a non-finite value would poison every decode it enters.
 */
import type { Uint8ArrayList } from 'uint8arraylist'
import { firstNonFiniteLE, readFloat64LE, writeFloat64LE } from '../training/float64-le.ts'

export const FRAME_MAGIC_0 = 0x43
export const FRAME_MAGIC_1 = 0x4e
export const FRAME_VERSION = 1
export const JOB_ID_LENGTH = 8
export const MAX_PHASE_LENGTH = 32
/** 4096 float64 = 32 KiB per chunk: well inside one 64 KiB yamux frame with the header. */
export const CHUNK_ELEMENTS = 4096
const FIXED_HEADER = 23 + 4 + 4 + 2 + 2 + 4
export const MAX_HEADER_LENGTH = FIXED_HEADER + MAX_PHASE_LENGTH
/** The largest frame this version can produce: a full chunk with the longest phase. */
export const MAX_FRAME_LENGTH = MAX_HEADER_LENGTH + CHUNK_ELEMENTS * 8

export interface FrameLimits {
  maxRows: number
  maxCols: number
  /** Cap on rows·cols of one payload (bounds reassembly memory per result). */
  maxElements: number
}

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxRows: 1 << 16,
  maxCols: 1 << 16,
  maxElements: 1 << 22
})

export interface FrameHeader {
  jobId: Uint8Array
  step: number
  layer: number
  attempt: number
  sender: number
  phase: string
  rows: number
  cols: number
  chunkIndex: number
  chunkCount: number
}

export interface Frame extends FrameHeader {
  /** This chunk's elements. */
  payload: Float64Array
}

/**
 * A frame as the stream reader yields it: the header, and the chunk's elements as the
 * little-endian bytes where they arrived (checked: all finite) — copied once, by whoever keeps
 * them (`copyFloat64LE`), instead of into an array of their own first.
 */
export interface FrameView extends FrameHeader {
  /** 8 · elements bytes, float64 little-endian; a view into the received bytes. */
  payloadBytes: Uint8Array
}

export type FrameErrorCode =
  | 'truncated' | 'bad-magic' | 'bad-version' | 'bad-flags' | 'bad-phase' | 'bad-shape' | 'too-large'
  | 'bad-chunk' | 'bad-length' | 'not-finite' | 'trailing-bytes' | 'wrong-job'

export class FrameError extends Error {
  override name = 'FrameError'
  readonly code: FrameErrorCode
  constructor (code: FrameErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

const PHASE_RE = /^[a-z0-9-]{1,32}$/

export function chunkCountFor (elements: number): number {
  return Math.max(1, Math.ceil(elements / CHUNK_ELEMENTS))
}

function chunkLength (elements: number, index: number): number {
  return Math.max(0, Math.min(CHUNK_ELEMENTS, elements - index * CHUNK_ELEMENTS))
}

function checkU (name: string, v: number, bits: 16 | 32): void {
  const max = bits === 16 ? 0xffff : 0xffffffff
  if (!Number.isInteger(v) || v < 0 || v > max) throw new FrameError('bad-shape', `${name} ${v} does not fit u${bits}`)
}

/**
 * Encode one chunk. `data` is the whole rows×cols payload; the chunk's slice is taken from it.
 * Throws FrameError for values that cannot be framed (so a caller bug is caught at the sender).
 */
export function encodeFrame (h: Omit<FrameHeader, 'chunkCount'>, data: Float64Array): Uint8Array {
  return encodeChunk(h, data, 0)
}

/**
 * Encode one chunk into a buffer that starts with `prefix` spare bytes (0, or 4 for the stream's
 * length prefix, written here: one allocation and one copy of the payload per frame on the wire).
 */
function encodeChunk (h: Omit<FrameHeader, 'chunkCount'>, data: Float64Array, prefix: 0 | 4): Uint8Array {
  if (h.jobId.length !== JOB_ID_LENGTH) throw new FrameError('wrong-job', `job id must be ${JOB_ID_LENGTH} bytes`)
  if (!PHASE_RE.test(h.phase)) throw new FrameError('bad-phase', `phase '${h.phase}' must match ${PHASE_RE}`)
  checkU('step', h.step, 32); if (!Number.isInteger(h.layer) || h.layer < -32768 || h.layer > 32767) throw new FrameError('bad-shape', `layer ${h.layer} does not fit i16`)
  checkU('attempt', h.attempt, 16); checkU('sender', h.sender, 16)
  checkU('rows', h.rows, 32); checkU('cols', h.cols, 32)
  const elements = h.rows * h.cols
  if (data.length !== elements) throw new FrameError('bad-shape', `payload of ${data.length} elements does not fit ${h.rows}x${h.cols}`)
  const count = chunkCountFor(elements)
  if (count > 0xffff) throw new FrameError('too-large', `${elements} elements need ${count} chunks (max 65535)`)
  if (!Number.isInteger(h.chunkIndex) || h.chunkIndex < 0 || h.chunkIndex >= count) throw new FrameError('bad-chunk', `chunk ${h.chunkIndex} of ${count}`)
  const e = chunkLength(elements, h.chunkIndex)
  const start = h.chunkIndex * CHUNK_ELEMENTS
  const phase = new TextEncoder().encode(h.phase)
  const length = FIXED_HEADER + phase.length + e * 8
  const whole = new Uint8Array(prefix + length)
  if (prefix === 4) new DataView(whole.buffer).setUint32(0, length)
  const out = whole.subarray(prefix)
  const dv = new DataView(whole.buffer, prefix)
  out[0] = FRAME_MAGIC_0; out[1] = FRAME_MAGIC_1; out[2] = FRAME_VERSION; out[3] = 0
  out.set(h.jobId, 4)
  dv.setUint32(12, h.step); dv.setInt16(16, h.layer); dv.setUint16(18, h.attempt); dv.setUint16(20, h.sender)
  out[22] = phase.length
  out.set(phase, 23)
  let o = 23 + phase.length
  dv.setUint32(o, h.rows); o += 4
  dv.setUint32(o, h.cols); o += 4
  dv.setUint16(o, h.chunkIndex); o += 2
  dv.setUint16(o, count); o += 2
  dv.setUint32(o, e); o += 4
  writeFloat64LE(data, start, e, out, o)
  return whole
}

/** All chunks of one payload, in order. */
export function encodeFrames (h: Omit<FrameHeader, 'chunkCount' | 'chunkIndex'>, data: Float64Array): Uint8Array[] {
  return encodeChunks(h, data, 0)
}

/** All chunks of one payload, in order, each already preceded by its stream length prefix (= `encodeFrames(…).map(lengthPrefixed)`). */
export function encodePrefixedFrames (h: Omit<FrameHeader, 'chunkCount' | 'chunkIndex'>, data: Float64Array): Uint8Array[] {
  return encodeChunks(h, data, 4)
}

function encodeChunks (h: Omit<FrameHeader, 'chunkCount' | 'chunkIndex'>, data: Float64Array, prefix: 0 | 4): Uint8Array[] {
  const count = chunkCountFor(h.rows * h.cols)
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) out.push(encodeChunk({ ...h, chunkIndex: i }, data, prefix))
  return out
}

/**
 * Decode one frame (without its stream length prefix). Throws only FrameError.
 * `expectJob`, when given, must equal the frame's job id.
 */
export function decodeFrame (bytes: Uint8Array, limits: Readonly<FrameLimits> = DEFAULT_FRAME_LIMITS, expectJob?: Uint8Array): Frame {
  const { payloadBytes, ...header } = decodeFrameView(bytes, limits, expectJob)
  return { ...header, payload: readFloat64LE(payloadBytes, 0, payloadBytes.length / 8) }
}

/** `decodeFrame` without copying the payload: the same checks, the elements left where they lie. */
export function decodeFrameView (bytes: Uint8Array, limits: Readonly<FrameLimits> = DEFAULT_FRAME_LIMITS, expectJob?: Uint8Array): FrameView {
  if (bytes.length < FIXED_HEADER + 1) throw new FrameError('truncated', `frame of ${bytes.length} bytes is shorter than a header`)
  if (bytes.length > MAX_FRAME_LENGTH) throw new FrameError('too-large', `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_LENGTH}`)
  if (bytes[0] !== FRAME_MAGIC_0 || bytes[1] !== FRAME_MAGIC_1) throw new FrameError('bad-magic', 'not a codenet frame')
  if (bytes[2] !== FRAME_VERSION) throw new FrameError('bad-version', `frame version ${bytes[2]} (this peer speaks ${FRAME_VERSION})`)
  if (bytes[3] !== 0) throw new FrameError('bad-flags', `unknown flags ${bytes[3]}`)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const jobId = bytes.slice(4, 4 + JOB_ID_LENGTH)
  if (expectJob !== undefined) {
    for (let i = 0; i < JOB_ID_LENGTH; i++) {
      if (jobId[i] !== expectJob[i]) throw new FrameError('wrong-job', 'frame belongs to another job')
    }
  }
  const step = dv.getUint32(12)
  const layer = dv.getInt16(16)
  const attempt = dv.getUint16(18)
  const sender = dv.getUint16(20)
  const pl = bytes[22]
  if (pl < 1 || pl > MAX_PHASE_LENGTH) throw new FrameError('bad-phase', `phase length ${pl}`)
  if (bytes.length < FIXED_HEADER + pl) throw new FrameError('truncated', 'frame ends inside its header')
  for (let i = 0; i < pl; i++) {
    const c = bytes[23 + i]
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d
    if (!ok) throw new FrameError('bad-phase', 'phase has a byte outside [a-z0-9-]')
  }
  const phase = String.fromCharCode(...bytes.subarray(23, 23 + pl))
  let o = 23 + pl
  const rows = dv.getUint32(o); o += 4
  const cols = dv.getUint32(o); o += 4
  const chunkIndex = dv.getUint16(o); o += 2
  const chunkCount = dv.getUint16(o); o += 2
  const e = dv.getUint32(o); o += 4
  if (rows > limits.maxRows || cols > limits.maxCols) throw new FrameError('too-large', `shape ${rows}x${cols} exceeds ${limits.maxRows}x${limits.maxCols}`)
  const elements = rows * cols
  if (elements > limits.maxElements) throw new FrameError('too-large', `${elements} elements exceed ${limits.maxElements}`)
  if (chunkCount !== chunkCountFor(elements)) throw new FrameError('bad-chunk', `chunk count ${chunkCount} does not fit ${elements} elements`)
  if (chunkIndex >= chunkCount) throw new FrameError('bad-chunk', `chunk ${chunkIndex} of ${chunkCount}`)
  if (e !== chunkLength(elements, chunkIndex)) throw new FrameError('bad-length', `chunk ${chunkIndex} should hold ${chunkLength(elements, chunkIndex)} elements, says ${e}`)
  const rest = bytes.length - o
  if (rest < e * 8) throw new FrameError('truncated', `payload of ${rest} bytes, expected ${e * 8}`)
  if (rest > e * 8) throw new FrameError('trailing-bytes', `${rest - e * 8} bytes after the payload`)
  const bad = firstNonFiniteLE(bytes, o, e)
  if (bad >= 0) throw new FrameError('not-finite', `payload element ${chunkIndex * CHUNK_ELEMENTS + bad} is ${dv.getFloat64(o + 8 * bad, true)}`)
  return { jobId, step, layer, attempt, sender, phase, rows, cols, chunkIndex, chunkCount, payloadBytes: bytes.subarray(o, o + e * 8) }
}

/** Prefix a frame with its u32 big-endian length for the stream. */
export function lengthPrefixed (frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + frame.length)
  new DataView(out.buffer).setUint32(0, frame.length)
  out.set(frame, 4)
  return out
}

/**
 * What the reader yields. A frame's `payloadBytes` view the chunk it arrived in (a frame that
 * spanned chunks is given bytes of its own): keep them by copying, as the inbox does.
 */
export type ReadItem = { ok: true, frame: FrameView } | { ok: false, error: FrameError }

/**
 * Cuts a byte stream into length-prefixed frames. Holds at most one incomplete frame
 * (≤ 4 + maxFrameLength bytes). A frame whose content is bad is reported and skipped: the
 * stream stays in sync because the length prefix is intact. A length prefix beyond the cap
 * means the stream can no longer be trusted to be in sync: the reader is poisoned and every
 * later byte is ignored (the caller resets the stream).
 */
export class FrameReader {
  private buf: Uint8Array
  private len = 0
  private readonly maxFrameLength: number
  private readonly limits: Readonly<FrameLimits>
  private readonly expectJob?: Uint8Array
  poisoned: FrameError | null = null

  constructor (opts: { limits?: Readonly<FrameLimits>, expectJob?: Uint8Array, maxFrameLength?: number } = {}) {
    this.limits = opts.limits ?? DEFAULT_FRAME_LIMITS
    this.expectJob = opts.expectJob
    this.maxFrameLength = Math.min(opts.maxFrameLength ?? MAX_FRAME_LENGTH, MAX_FRAME_LENGTH)
    this.buf = new Uint8Array(4 + this.maxFrameLength)
  }

  /** Bytes held for an incomplete frame (always ≤ 4 + maxFrameLength). */
  get buffered (): number { return this.len }

  push (chunk: Uint8Array | Uint8ArrayList): ReadItem[] {
    const out: ReadItem[] = []
    if (this.poisoned !== null) return out
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    let i = 0
    while (i < bytes.length) {
      // A whole frame inside this chunk, with nothing held: decode it where it lies (no copy).
      if (this.len === 0 && bytes.length - i >= 4) {
        const fl = u32At(bytes, i)
        if (fl > 0 && fl <= this.maxFrameLength && bytes.length - i - 4 >= fl) {
          out.push(this.decode(bytes.subarray(i + 4, i + 4 + fl)))
          i += 4 + fl
          continue
        }
      }
      // Fill the length prefix, then the frame, never past the fixed buffer.
      const need = this.len < 4 ? 4 : 4 + this.frameLength()
      const take = Math.min(need - this.len, bytes.length - i)
      this.buf.set(bytes.subarray(i, i + take), this.len)
      this.len += take
      i += take
      if (this.len === 4) {
        const fl = this.frameLength()
        if (fl > this.maxFrameLength || fl === 0) {
          this.poisoned = new FrameError('too-large', `length prefix ${fl} outside 1..${this.maxFrameLength}`)
          this.len = 0
          out.push({ ok: false, error: this.poisoned })
          return out
        }
      } else if (this.len > 4 && this.len === 4 + this.frameLength()) {
        // Assembled in the reader's buffer, which the next frame reuses: a copy of its own.
        out.push(this.decode(this.buf.slice(4, this.len)))
        this.len = 0
      }
    }
    return out
  }

  private decode (frame: Uint8Array): ReadItem {
    try {
      return { ok: true, frame: decodeFrameView(frame, this.limits, this.expectJob) }
    } catch (err) {
      return { ok: false, error: err instanceof FrameError ? err : new FrameError('bad-length', String(err)) }
    }
  }

  private frameLength (): number {
    return u32At(this.buf, 0)
  }
}

/** The big-endian u32 at bytes[i…i+3] (a length prefix). */
function u32At (bytes: Uint8Array, i: number): number {
  return ((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3]
}
