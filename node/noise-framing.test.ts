import { describe, it, expect } from 'vitest'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_BUFFERED_BYTES, NoiseFramingError, NoiseMessageDecoder, replaceDecoder } from './noise-framing.ts'

/** A seeded stream of noise messages (2-byte big-endian length + body), some empty. */
function messages (seed: number, n: number): Uint8Array[] {
  let x = seed
  const rnd = (): number => { x = (x * 1103515245 + 12345) >>> 0; return x / 2 ** 32 }
  return Array.from({ length: n }, (_, i) => {
    const len = rnd() < 0.1 ? 0 : rnd() < 0.5 ? Math.floor(rnd() * 40) : Math.floor(rnd() * 65535)
    const m = new Uint8Array(len)
    for (let j = 0; j < len; j++) m[j] = (i * 31 + j) & 255
    return m
  })
}

function wire (ms: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ms.reduce((a, m) => a + 2 + m.byteLength, 0))
  let o = 0
  for (const m of ms) { out[o] = m.byteLength >> 8; out[o + 1] = m.byteLength & 255; out.set(m, o + 2); o += 2 + m.byteLength }
  return out
}

/** Cuts `bytes` into chunks of seeded sizes (1 byte to 100 KB). */
function chunks (bytes: Uint8Array, seed: number): Uint8Array[] {
  let x = seed
  const rnd = (): number => { x = (x * 22695477 + 1) >>> 0; return x / 2 ** 32 }
  const out: Uint8Array[] = []
  for (let o = 0; o < bytes.byteLength;) {
    const n = Math.max(1, Math.floor(rnd() < 0.2 ? rnd() * 3 : rnd() * 100_000))
    out.push(bytes.subarray(o, o + n))
    o += n
  }
  return out
}

describe('NoiseMessageDecoder', () => {
  it('yields the same messages as noise\'s own decoder, whatever the chunking, as whole arrays', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const ms = messages(seed, 60)
      const bytes = wire(ms)
      const mine = new NoiseMessageDecoder()
      const theirs = new LengthPrefixedDecoder({
        lengthDecoder: (d: Uint8ArrayList | Uint8Array) => { if (d.length < 2) throw new RangeError('short'); return d instanceof Uint8Array ? (d[0] << 8) | d[1] : d.getUint16(0) },
        maxBufferSize: MAX_BUFFERED_BYTES,
        encodingLength: () => 2
      })
      const got: Uint8Array[] = []
      const want: Uint8Array[] = []
      for (const [k, c] of chunks(bytes, seed).entries()) {
        // Half the chunks arrive as lists of two pieces, as a stream may deliver them.
        const input = k % 2 === 0 || c.byteLength < 2 ? c : new Uint8ArrayList(c.subarray(0, 1), c.subarray(1))
        for (const m of mine.decode(input)) { expect(m).toBeInstanceOf(Uint8Array); got.push(m.slice()) }
        for (const m of theirs.decode(c)) want.push(m.subarray())
      }
      expect(mine.buffered).toBe(0)
      const same = (a: Uint8Array[], b: Uint8Array[]): boolean => a.length === b.length && a.every((m, i) => Buffer.compare(m, b[i]) === 0)
      expect(got.length).toBeGreaterThan(40)
      expect(same(got, want)).toBe(true)
      expect(same(got, ms.filter(m => m.byteLength > 0))).toBe(true)
    }
  })

  it('holds an incomplete message without throwing, and refuses to buffer beyond the cap', () => {
    const d = new NoiseMessageDecoder()
    expect([...d.decode(new Uint8Array([0xff]))]).toEqual([])
    expect([...d.decode(new Uint8Array([0xff, 1, 2]))]).toEqual([])
    expect(d.buffered).toBe(4)
    const big = new NoiseMessageDecoder()
    expect(() => [...big.decode(new Uint8Array(MAX_BUFFERED_BYTES + 1))]).toThrow(NoiseFramingError)
  })

  it('takes over a connection\'s decoder with the bytes it already held', () => {
    const old = new LengthPrefixedDecoder({ lengthDecoder: () => { throw new RangeError('short') }, encodingLength: () => 2 })
    // The old decoder holds the first byte of a 3-byte message.
    for (const _ of old.decode(new Uint8Array([0]))) expect.unreachable()
    const conn = { decoder: old as unknown }
    expect(replaceDecoder(conn)).toBe(true)
    expect(conn.decoder).toBeInstanceOf(NoiseMessageDecoder)
    const d = conn.decoder as NoiseMessageDecoder
    expect([...d.decode(new Uint8Array([3, 7, 8, 9, 0]))].map(m => [...m])).toEqual([[7, 8, 9]])
    expect(replaceDecoder({})).toBe(false)
  })
})
