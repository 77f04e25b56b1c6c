/**
 * What a peer's checkpoint holds, and its byte format. A checkpoint is everything that
 * determines the rest of training for one peer: its coded shards and coded momentum for
 * every layer, its replicated biases and their momentum, and the step it resumes at.
 * The data cursor is the step itself (batches.ts derives step → batch from the seed);
 * every other random stream (initial weights, audit vectors, fault draws) is keyed by
 * (seed, step, attempt), so there is no running RNG state to save.
 *
 * Bytes: "CNCK" | u32 version | u32 header length | header JSON | float64 payload
 *        | sha256 of everything before it (32 bytes).
 * A checkpoint whose checksum, sizes or header do not verify is refused with a
 * CheckpointError, never half-loaded. A checksum only proves the file is the one written:
 * a file rewritten with valid checksums is also range-checked (step, peer and shapes within
 * the job caps of training/config.ts, every value finite) before anything is allocated or
 * restored.
 */
import { createHash } from 'node:crypto'
import type { Matrix } from '../codes/matrix.ts'
import { writeFloat64LE } from './float64-le.ts'
import { LIMITS } from './limits.ts'

export const CHECKPOINT_VERSION = 1
const MAGIC = 0x434e434b // "CNCK"
/** Refuse absurd files before allocating: 1 GiB of parameters. */
export const MAX_CHECKPOINT_BYTES = 1 << 30

export class CheckpointError extends Error {
  override name = 'CheckpointError'
}

export interface LayerState {
  shard: Matrix
  velocity: Matrix
  bias: Float64Array
  biasVelocity: Float64Array
}

export interface Checkpoint {
  peer: number
  /** Steps completed: training resumes at this step. */
  step: number
  /** A digest of the job (config) this checkpoint belongs to, so a stale file is refused. */
  job: string
  layers: LayerState[]
}

export function cloneCheckpoint (c: Checkpoint): Checkpoint {
  return {
    peer: c.peer,
    step: c.step,
    job: c.job,
    layers: c.layers.map(l => ({
      shard: { rows: l.shard.rows, cols: l.shard.cols, data: l.shard.data.slice() },
      velocity: { rows: l.velocity.rows, cols: l.velocity.cols, data: l.velocity.data.slice() },
      bias: l.bias.slice(),
      biasVelocity: l.biasVelocity.slice()
    }))
  }
}

interface Header {
  version: number
  peer: number
  step: number
  job: string
  layers: Array<{ rows: number, cols: number, bias: number }>
}

export function serializeCheckpoint (c: Checkpoint): Uint8Array {
  const header: Header = {
    version: CHECKPOINT_VERSION,
    peer: c.peer,
    step: c.step,
    job: c.job,
    layers: c.layers.map(l => ({ rows: l.shard.rows, cols: l.shard.cols, bias: l.bias.length }))
  }
  const hjson = new TextEncoder().encode(JSON.stringify(header))
  const floats = c.layers.reduce((s, l) => s + 2 * l.shard.data.length + 2 * l.bias.length, 0)
  const pad = (8 - ((12 + hjson.length) % 8)) % 8
  const bodyStart = 12 + hjson.length + pad
  const total = bodyStart + floats * 8 + 32
  const out = new Uint8Array(total)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, MAGIC); dv.setUint32(4, CHECKPOINT_VERSION); dv.setUint32(8, hjson.length + pad)
  out.set(hjson, 12)
  out.fill(0x20, 12 + hjson.length, bodyStart) // pad the JSON with spaces
  let off = bodyStart
  for (const l of c.layers) {
    for (const arr of [l.shard.data, l.velocity.data, l.bias, l.biasVelocity]) {
      writeFloat64LE(arr, 0, arr.length, out, off)
      off += arr.length * 8
    }
  }
  out.set(createHash('sha256').update(out.subarray(0, off)).digest(), off)
  return out
}

/** What the reader knows the checkpoint must be: checked on top of the format's own ranges. */
export interface CheckpointExpectation {
  /** The step the file claims to hold (its name, its store metadata). */
  step?: number
  /** The job's total steps: a checkpoint never lies beyond them. */
  maxStep?: number
}

/** The largest step any job can reach (the --steps cap). */
const MAX_STEP = LIMITS.steps

/** The header's numbers within range, before the payload is sized or read. */
function checkHeader (h: Header, expect: CheckpointExpectation): void {
  const whole = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max
  const maxStep = Math.min(MAX_STEP, expect.maxStep ?? MAX_STEP)
  if (!whole(h.step, 0, maxStep)) throw new CheckpointError(`checkpoint step ${String(h.step)} is outside [0, ${maxStep}]`)
  if (expect.step !== undefined && h.step !== expect.step) throw new CheckpointError(`checkpoint holds step ${h.step}, not the step ${expect.step} it is filed under`)
  if (!whole(h.peer, 0, LIMITS.peers - 1)) throw new CheckpointError(`checkpoint peer ${String(h.peer)} is outside [0, ${LIMITS.peers - 1}]`)
  if (h.job.length > 256) throw new CheckpointError('checkpoint job digest is too long')
  if (h.layers.length < 1 || h.layers.length > LIMITS.layers - 1) throw new CheckpointError(`checkpoint has ${h.layers.length} layers, outside [1, ${LIMITS.layers - 1}]`)
  h.layers.forEach((l, i) => {
    // A shard is a block of a zero-padded layer: at most a padded layer's size.
    if (l === null || typeof l !== 'object' || !whole(l.rows, 1, 2 * LIMITS.width) || !whole(l.cols, 1, 2 * LIMITS.width) ||
      !whole(l.bias, 1, LIMITS.width) || l.rows * l.cols > 4 * LIMITS.parameters) {
      throw new CheckpointError(`checkpoint layer ${i} has an impossible shape`)
    }
  })
}

/** Decode and verify a checkpoint: checksum, format, ranges, finiteness, and `expect`. */
export function deserializeCheckpoint (bytes: Uint8Array, expect: CheckpointExpectation = {}): Checkpoint {
  if (bytes.length > MAX_CHECKPOINT_BYTES) throw new CheckpointError(`checkpoint of ${bytes.length} bytes exceeds the ${MAX_CHECKPOINT_BYTES}-byte cap`)
  if (bytes.length < 12 + 32) throw new CheckpointError('checkpoint is truncated')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (dv.getUint32(0) !== MAGIC) throw new CheckpointError('not a codenet checkpoint (bad magic)')
  const body = bytes.length - 32
  const digest = createHash('sha256').update(bytes.subarray(0, body)).digest()
  if (!digest.equals(bytes.subarray(body))) throw new CheckpointError('checkpoint checksum does not match: file is corrupt')
  const version = dv.getUint32(4)
  if (version !== CHECKPOINT_VERSION) throw new CheckpointError(`checkpoint version ${version} is not supported (expected ${CHECKPOINT_VERSION})`)
  const hlen = dv.getUint32(8)
  if (12 + hlen > body) throw new CheckpointError('checkpoint header overruns the file')
  let header: Header
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hlen))) as Header
  } catch {
    throw new CheckpointError('checkpoint header is not valid JSON')
  }
  if (header === null || typeof header !== 'object' || !Array.isArray(header.layers) || typeof header.job !== 'string') {
    throw new CheckpointError('checkpoint header is malformed')
  }
  checkHeader(header, expect)
  const floats = header.layers.reduce((s, l) => s + 2 * l.rows * l.cols + 2 * l.bias, 0)
  if (!Number.isFinite(floats) || 12 + hlen + floats * 8 !== body) throw new CheckpointError('checkpoint payload size does not match its header')
  let off = 12 + hlen
  const read = (n: number, what: string): Float64Array => {
    const a = new Float64Array(n)
    for (let i = 0; i < n; i++, off += 8) {
      a[i] = dv.getFloat64(off, true)
      // A confirmed step's state is finite: the decoders refuse NaN/Inf results.
      if (!Number.isFinite(a[i])) throw new CheckpointError(`checkpoint ${what} holds a non-finite value (${a[i]}) at ${i}`)
    }
    return a
  }
  const layers = header.layers.map((l, i) => {
    const shard = { rows: l.rows, cols: l.cols, data: read(l.rows * l.cols, `layer ${i} shard`) }
    const velocity = { rows: l.rows, cols: l.cols, data: read(l.rows * l.cols, `layer ${i} velocity`) }
    return { shard, velocity, bias: read(l.bias, `layer ${i} bias`), biasVelocity: read(l.bias, `layer ${i} bias velocity`) }
  })
  return { peer: header.peer, step: header.step, job: header.job, layers }
}
