/**
 * float64 arrays to and from little-endian bytes, the byte order of codenet's wire frames and
 * checkpoint files. On a little-endian host (every platform Node runs on today) both are plain
 * byte copies; elsewhere they go value by value through a DataView.
 */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f

/** Writes `count` float64 of `data` from index `start` into `out` at byte `offset`, little-endian. */
export function writeFloat64LE (data: Float64Array, start: number, count: number, out: Uint8Array, offset: number): void {
  if (HOST_LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset + start * 8, count * 8), offset)
    return
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength)
  for (let i = 0; i < count; i++) dv.setFloat64(offset + 8 * i, data[start + i], true)
}

/** `count` float64 read little-endian from `bytes` at byte `offset` (a new array). */
export function readFloat64LE (bytes: Uint8Array, offset: number, count: number): Float64Array {
  const out = new Float64Array(count)
  copyFloat64LE(bytes, offset, count, out, 0)
  return out
}

/** Copies `count` float64 stored little-endian in `bytes` at byte `offset` into `out` from index `start`. */
export function copyFloat64LE (bytes: Uint8Array, offset: number, count: number, out: Float64Array, start: number): void {
  if (HOST_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer, out.byteOffset + start * 8, count * 8).set(bytes.subarray(offset, offset + count * 8))
    return
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < count; i++) out[start + i] = dv.getFloat64(offset + 8 * i, true)
}

/**
 * Index of the first of `count` little-endian float64 in `bytes` at byte `offset` that is NaN
 * or ±Infinity (all 11 exponent bits set), −1 when every one is finite. Reads the bytes where
 * they lie (no copy, no alignment needed), whatever the host's byte order.
 */
export function firstNonFiniteLE (bytes: Uint8Array, offset: number, count: number): number {
  for (let i = 0, p = offset + 6; i < count; i++, p += 8) {
    if ((bytes[p + 1] & 0x7f) === 0x7f && (bytes[p] & 0xf0) === 0xf0) return i
  }
  return -1
}
