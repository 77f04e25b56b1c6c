/**
 * The receiving side of a noise session, framed without exceptions and without copies.
 *
 * @chainsafe/libp2p-noise 17 splits the incoming bytes into noise messages with @libp2p/utils'
 * LengthPrefixedDecoder and its own 2-byte length decoder. That decoder *throws* a RangeError
 * whenever fewer than two bytes are buffered — which is the case after every chunk that ends on
 * a message boundary — and the decoder loop catches it to stop. An exception captures a stack
 * trace: on a testnet peer this single function was 4 % of the process's CPU
 * (`codenet bench step --cpu-prof`, docs/performance.md). The messages it yields are lists
 * over the received chunks, which the decryption then copies into one array.
 *
 * `fastNoiseFraming` wraps the noise connection encrypter: once a session is secured, its
 * decoder is replaced by NoiseMessageDecoder, which reads the same wire format (a 2-byte
 * big-endian length, then that many bytes), yields each message as one contiguous array — a
 * view into the received chunk when the message lies within it, one copy when it straddles
 * chunks — never throws for missing bytes, and keeps noise's cap on buffered bytes.
 */
import type { ConnectionEncrypter } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** noise's cap on bytes buffered while a message is incomplete. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024

export class NoiseFramingError extends Error {
  override name = 'NoiseFramingError'
}

/** Splits a byte stream into noise messages (2-byte big-endian length + body). */
export class NoiseMessageDecoder {
  /** The start of an incomplete message, in the chunks it arrived in. */
  private parts: Uint8Array[] = []
  private bytes = 0

  get buffered (): number { return this.bytes }

  /** The messages completed by `input`, in order; zero-length messages are skipped (as noise does). */
  * decode (input: Uint8Array | Uint8ArrayList): Generator<Uint8Array> {
    if (input instanceof Uint8Array) {
      yield * this.chunk(input)
    } else {
      for (const c of input) yield * this.chunk(c)
    }
  }

  private * chunk (c: Uint8Array): Generator<Uint8Array> {
    if (c.byteLength === 0) return
    if (this.bytes + c.byteLength > MAX_BUFFERED_BYTES) throw new NoiseFramingError(`buffer length limit exceeded - ${this.bytes + c.byteLength}/${MAX_BUFFERED_BYTES}`)
    if (this.bytes > 0) {
      // Complete the pending message first (one copy: its pieces into one array), then go on
      // with the rest of this chunk.
      this.parts.push(c)
      this.bytes += c.byteLength
      if (this.bytes < 2) return
      const need = 2 + ((this.byteAt(0) << 8) | this.byteAt(1))
      if (this.bytes < need) return
      const msg = new Uint8Array(need)
      let o = 0
      for (const p of this.parts) {
        const n = Math.min(p.byteLength, need - o)
        msg.set(n === p.byteLength ? p : p.subarray(0, n), o)
        o += n
        if (o === need) break
      }
      // What is left after the message lies in this chunk (the pending part was short of it).
      const rest = this.bytes - need
      this.parts = []
      this.bytes = 0
      if (need > 2) yield msg.subarray(2)
      c = c.subarray(c.byteLength - rest)
    }
    let off = 0
    while (c.byteLength - off >= 2) {
      const len = (c[off] << 8) | c[off + 1]
      if (c.byteLength - off - 2 < len) break
      if (len > 0) yield c.subarray(off + 2, off + 2 + len)
      off += 2 + len
    }
    if (off < c.byteLength) {
      this.parts = [c.subarray(off)]
      this.bytes = c.byteLength - off
    }
  }

  private byteAt (i: number): number {
    for (const p of this.parts) {
      if (i < p.byteLength) return p[i]
      i -= p.byteLength
    }
    return 0
  }
}

/** The part of noise's secured connection this replaces (library internals, checked before use). */
interface DecodingConnection {
  decoder?: { decode?: unknown, buffer?: { byteLength?: number, [Symbol.iterator]?: () => Iterator<Uint8Array> } }
}

/** Gives a secured noise connection the NoiseMessageDecoder (with anything already buffered). Returns whether it did. */
export function replaceDecoder (connection: unknown): boolean {
  const c = connection as DecodingConnection
  const old = c.decoder
  if (old === undefined || typeof old.decode !== 'function') return false
  const next = new NoiseMessageDecoder()
  const pending = old.buffer
  if (pending !== undefined && (pending.byteLength ?? 0) > 0) {
    if (typeof pending[Symbol.iterator] !== 'function') return false
    // Bytes the old decoder holds: they start a message, so they are fed first (nothing yields).
    for (const _ of next.decode(pending as unknown as Uint8ArrayList)) return false
  }
  c.decoder = next as unknown as DecodingConnection['decoder']
  return true
}

type EncrypterFactory<C> = (components: C) => ConnectionEncrypter

/** The noise encrypter, with each secured session's decoder replaced (see the module comment). */
export function fastNoiseFraming<C> (factory: EncrypterFactory<C>): EncrypterFactory<C> {
  return (components: C) => {
    const enc = factory(components)
    const inbound = enc.secureInbound.bind(enc)
    const outbound = enc.secureOutbound.bind(enc)
    enc.secureInbound = async (...args: Parameters<ConnectionEncrypter['secureInbound']>) => {
      const r = await inbound(...args)
      replaceDecoder(r.connection)
      return r
    }
    enc.secureOutbound = async (...args: Parameters<ConnectionEncrypter['secureOutbound']>) => {
      const r = await outbound(...args)
      replaceDecoder(r.connection)
      return r
    }
    return enc
  }
}
