import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  encodeFrame, encodeFrames, encodePrefixedFrames, decodeFrame, lengthPrefixed, FrameReader, FrameError, CHUNK_ELEMENTS,
  MAX_FRAME_LENGTH, DEFAULT_FRAME_LIMITS, type FrameHeader, type FrameView
} from './frame.ts'
import { readFloat64LE } from '../training/float64-le.ts'

const job = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])

function header (rows: number, cols: number, extra: Partial<FrameHeader> = {}): Omit<FrameHeader, 'chunkCount' | 'chunkIndex'> {
  return { jobId: job, step: 7, layer: 2, attempt: 1, sender: 3, phase: 'forward', rows, cols, ...extra }
}

/** A tiny deterministic PRNG so the fuzz corpus is reproducible. */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('frame', () => {
  it('round-trips every field and the payload, chunked', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('forward', 'backward', 'shard', 'audit-verdict'), fc.integer({ min: -1, max: 300 }),
      (rows, cols, step, phase, layer) => {
        const data = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 1e3)
        const frames = encodeFrames(header(rows, cols, { step, phase, layer }), data)
        expect(frames.length).toBe(Math.max(1, Math.ceil(rows * cols / CHUNK_ELEMENTS)))
        const back = new Float64Array(rows * cols)
        frames.forEach((f, i) => {
          expect(f.length).toBeLessThanOrEqual(MAX_FRAME_LENGTH)
          const d = decodeFrame(f, DEFAULT_FRAME_LIMITS, job)
          expect(d).toMatchObject({ step, layer, attempt: 1, sender: 3, phase, rows, cols, chunkIndex: i, chunkCount: frames.length })
          back.set(d.payload, i * CHUNK_ELEMENTS)
        })
        expect(back).toEqual(data)
      }), { numRuns: 60 })
  })

  it('rejects NaN and infinities, wrong job, oversize shapes, bad phase', () => {
    const data = Float64Array.from([1, 2, 3, 4])
    const good = encodeFrame({ ...header(2, 2), chunkIndex: 0 }, data)
    for (const bad of [NaN, Infinity, -Infinity]) {
      const f = encodeFrame({ ...header(2, 2), chunkIndex: 0 }, Float64Array.from([1, bad, 3, 4]))
      expect(() => decodeFrame(f)).toThrow(expect.objectContaining({ code: 'not-finite' }))
    }
    expect(() => decodeFrame(good, DEFAULT_FRAME_LIMITS, Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]))).toThrow(expect.objectContaining({ code: 'wrong-job' }))
    expect(() => decodeFrame(good, { maxRows: 1, maxCols: 10, maxElements: 10 })).toThrow(expect.objectContaining({ code: 'too-large' }))
    expect(() => encodeFrame({ ...header(2, 2, { phase: 'Forward!' }), chunkIndex: 0 }, data)).toThrow(FrameError)
    const trailing = new Uint8Array(good.length + 1); trailing.set(good)
    expect(() => decodeFrame(trailing)).toThrow(expect.objectContaining({ code: 'trailing-bytes' }))
    expect(() => decodeFrame(good.subarray(0, good.length - 1))).toThrow(expect.objectContaining({ code: 'truncated' }))
  })

  it('the reader reassembles frames split at arbitrary byte boundaries', () => {
    // Cuts from 1 byte to several frames: a frame split anywhere, and whole frames inside one chunk.
    fc.assert(fc.property(fc.array(fc.oneof(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 120_000 })), { minLength: 1, maxLength: 20 }), (cuts) => {
      const data = Float64Array.from({ length: 3 * 5000 }, (_, i) => i * 0.5 - 7)
      const stream = encodePrefixedFrames(header(3, 5000), data)
      expect(stream).toEqual(encodeFrames(header(3, 5000), data).map(lengthPrefixed))
      const all = new Uint8Array(stream.reduce((a, s) => a + s.length, 0))
      let o = 0
      for (const s of stream) { all.set(s, o); o += s.length }
      const reader = new FrameReader({ expectJob: job })
      const got: FrameView[] = []
      let p = 0; let k = 0
      while (p < all.length) {
        const n = cuts[k++ % cuts.length]
        for (const item of reader.push(all.subarray(p, p + n))) {
          expect(item.ok).toBe(true)
          if (item.ok) got.push(item.frame)
        }
        p += n
      }
      expect(got.map(f => f.chunkIndex)).toEqual([0, 1, 2, 3])
      // Checked only now, after every push: a payload assembled in the reader's buffer must not
      // have been overwritten by the frames after it.
      for (const f of got) {
        expect(readFloat64LE(f.payloadBytes, 0, f.payloadBytes.length / 8)).toEqual(data.subarray(f.chunkIndex * CHUNK_ELEMENTS, (f.chunkIndex + 1) * CHUNK_ELEMENTS))
      }
      expect(reader.buffered).toBe(0)
    }), { numRuns: 30 })
  })

  it('fuzz: 100,000 random and mutated frames never throw anything but FrameError and never grow a buffer', () => {
    const r = rng(42)
    const seeds = [
      encodeFrame({ ...header(2, 3), chunkIndex: 0 }, Float64Array.from([1, 2, 3, 4, 5, 6])),
      ...encodeFrames(header(5, 1000), Float64Array.from({ length: 5000 }, (_, i) => i / 7)),
      encodeFrame({ ...header(0, 0, { phase: 'x' }), chunkIndex: 0 }, new Float64Array(0))
    ]
    const reader = new FrameReader({ expectJob: job })
    let decoded = 0; let rejected = 0
    for (let n = 0; n < 100_000; n++) {
      let bytes: Uint8Array
      const mode = r()
      if (mode < 0.3) {
        bytes = new Uint8Array(Math.floor(r() * 200))
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256)
        if (bytes.length > 3 && r() < 0.5) { bytes[0] = 0x43; bytes[1] = 0x4e; bytes[2] = 1; bytes[3] = 0 }
      } else {
        const base = seeds[Math.floor(r() * seeds.length)]
        bytes = base.slice()
        const flips = 1 + Math.floor(r() * 4)
        for (let f = 0; f < flips; f++) {
          const what = r()
          if (what < 0.6) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256)
          else if (what < 0.8) bytes = bytes.subarray(0, Math.floor(r() * bytes.length))
          else {
            const ext = new Uint8Array(bytes.length + Math.floor(r() * 16))
            ext.set(bytes)
            bytes = ext
          }
        }
      }
      try {
        const f = decodeFrame(bytes, DEFAULT_FRAME_LIMITS, job)
        decoded++
        expect(f.payload.length).toBeLessThanOrEqual(CHUNK_ELEMENTS)
        for (const v of f.payload) if (!Number.isFinite(v)) throw new Error('non-finite accepted')
      } catch (err) {
        if (!(err instanceof FrameError)) throw err
        rejected++
      }
      // The same bytes through the stream reader, sometimes with a (possibly lying) length prefix.
      const items = reader.push(r() < 0.5 ? lengthPrefixed(bytes) : bytes)
      for (const it of items) if (!it.ok) expect(it.error).toBeInstanceOf(FrameError)
      expect(reader.buffered).toBeLessThanOrEqual(4 + MAX_FRAME_LENGTH)
      if (reader.poisoned !== null) { reader.poisoned = null }
    }
    expect(decoded + rejected).toBe(100_000)
    expect(rejected).toBeGreaterThan(50_000)
    expect(decoded).toBeGreaterThan(0)
  })
})
