/**
 * The weights export in the safetensors format (huggingface.co/docs/safetensors), which
 * PyTorch, JAX and numpy read without codenet:
 *
 *   8 bytes   little-endian u64: N, the length of the JSON header
 *   N bytes   JSON header, padded with spaces to a multiple of 8:
 *               { "__metadata__": { "format": "codenet", "activation": "relu", "widths": "784-128-64-10" },
 *                 "layers.0.weight": { "dtype": "F64", "shape": [128, 784], "data_offsets": [0, 802816] },
 *                 "layers.0.bias":   { "dtype": "F64", "shape": [128], "data_offsets": [802816, 803840] }, … }
 *   the tensors, little-endian, row-major, one after the other in the header's order
 *
 * `layers.N.weight` is [out, in] (as torch.nn.Linear's weight), `layers.N.bias` is [out]. The
 * dtype is F64: the exact numbers of the decoded model, equal to the JSON export's (a diverged
 * run's non-finite values included, which JSON writes as null); `torch.load_state_dict` casts to
 * the module's float32 on assignment. The reader takes F64 and F32.
 */
import type { Activation } from './config.ts'
import type { WeightsExport } from './evaluate.ts'

export const SAFETENSORS_EXTENSION = '.safetensors'
/** Refuse headers beyond this (the format's own reference reader caps at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000

export class SafetensorsError extends Error {
  override name = 'SafetensorsError'
}

interface TensorEntry { dtype: string, shape: number[], data_offsets: [number, number] }

/** The safetensors bytes of a weights export (null entries, a diverged run's, become NaN). */
export function encodeSafetensors (w: WeightsExport): Uint8Array {
  const header: Record<string, unknown> = {
    __metadata__: { format: 'codenet', activation: w.activation, widths: [w.layers[0].cols, ...w.layers.map(l => l.rows)].join('-') }
  }
  const tensors: Array<{ name: string, shape: number[], values: ReadonlyArray<number | null> }> = []
  w.layers.forEach((l, i) => {
    tensors.push({ name: `layers.${i}.weight`, shape: [l.rows, l.cols], values: l.weights })
    tensors.push({ name: `layers.${i}.bias`, shape: [l.rows], values: l.bias })
  })
  let offset = 0
  for (const t of tensors) {
    const bytes = 8 * t.values.length
    header[t.name] = { dtype: 'F64', shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8)
  const head = Buffer.from(json, 'utf8')
  const out = new Uint8Array(8 + head.length + offset)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(head.length), true)
  out.set(head, 8)
  let at = 8 + head.length
  for (const t of tensors) {
    for (const v of t.values) { view.setFloat64(at, v === null ? NaN : v, true); at += 8 }
  }
  return out
}

/** True when the bytes look like safetensors (a plausible header length followed by '{'). */
export function looksLikeSafetensors (bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true)
  return n > 1n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b
}

/** A weights export from safetensors bytes written by codenet (or any with `layers.N.weight/bias` and an activation). */
export function decodeSafetensors (bytes: Uint8Array): WeightsExport {
  if (bytes.length < 8) throw new SafetensorsError(`a safetensors file starts with an 8-byte header length; this one has ${bytes.length} bytes`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = view.getBigUint64(0, true)
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) throw new SafetensorsError(`header length ${n} does not fit the file (${bytes.length} bytes)`)
  const headerLength = Number(n)
  let header: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>
  } catch (err) {
    throw new SafetensorsError(`the header is not JSON: ${(err as Error).message}`)
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('the header is not a JSON object')
  const dataStart = 8 + headerLength
  const dataBytes = bytes.length - dataStart
  const tensor = (name: string): Float64Array | null => {
    const e = header[name] as TensorEntry | undefined
    if (e === undefined) return null
    const size = e.dtype === 'F64' ? 8 : e.dtype === 'F32' ? 4 : 0
    if (size === 0) throw new SafetensorsError(`${name}: dtype ${String(e.dtype)} is not read (F64 or F32)`)
    const [a, b] = Array.isArray(e.data_offsets) ? e.data_offsets : [NaN, NaN]
    const count = Array.isArray(e.shape) ? e.shape.reduce((p: number, d: number) => p * d, 1) : NaN
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > dataBytes || b - a !== count * size) {
      throw new SafetensorsError(`${name}: data_offsets ${JSON.stringify(e.data_offsets)} do not hold shape ${JSON.stringify(e.shape)} of ${e.dtype} within ${dataBytes} data bytes`)
    }
    const out = new Float64Array(count)
    for (let i = 0; i < count; i++) out[i] = size === 8 ? view.getFloat64(dataStart + a + 8 * i, true) : view.getFloat32(dataStart + a + 4 * i, true)
    return out
  }
  const meta = (header.__metadata__ ?? {}) as Record<string, unknown>
  const activation = meta.activation
  if (activation !== 'relu' && activation !== 'sigmoid' && activation !== 'tanh') {
    throw new SafetensorsError(`__metadata__.activation must be relu|sigmoid|tanh, got ${JSON.stringify(activation)}`)
  }
  const layers: WeightsExport['layers'] = []
  for (let i = 0; ; i++) {
    const w = tensor(`layers.${i}.weight`)
    if (w === null) break
    const shape = (header[`layers.${i}.weight`] as TensorEntry).shape
    if (shape.length !== 2) throw new SafetensorsError(`layers.${i}.weight must be [out, in], got shape ${JSON.stringify(shape)}`)
    const b = tensor(`layers.${i}.bias`)
    if (b === null) throw new SafetensorsError(`layers.${i}.bias is missing`)
    if (b.length !== shape[0]) throw new SafetensorsError(`layers.${i}.bias has ${b.length} values for ${shape[0]} outputs`)
    const fin = (v: number): number | null => Number.isFinite(v) ? v : null
    layers.push({ rows: shape[0], cols: shape[1], weights: Array.from(w, fin), bias: Array.from(b, fin) })
  }
  if (layers.length === 0) throw new SafetensorsError('no tensor named layers.0.weight')
  return { activation: activation as Activation, layers }
}
