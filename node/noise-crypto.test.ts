import { describe, expect, it } from 'vitest'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto, SMALL_MESSAGE } from './noise-crypto.ts'

const bytes = (n: number, seed: number): Uint8Array => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17) & 0xff
  return b
}
const flat = (x: Uint8Array | { subarray: () => Uint8Array }): Uint8Array => x instanceof Uint8Array ? x : x.subarray()

describe('codenet noise crypto', () => {
  const nonce = bytes(12, 1)
  const ad = bytes(5, 2)
  for (const n of [0, 12, SMALL_MESSAGE - 1, SMALL_MESSAGE, 1199, 1200, 65_000]) {
    it(`interoperates with the package's default at ${n} bytes`, () => {
      const k = bytes(32, 3)
      const plain = bytes(n, 4)
      const ours = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true)
      expect(Buffer.from(flat(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k))).equals(Buffer.from(plain))).toBe(true)
    })
  }

  it('encrypts a list of pieces (a muxer header and its data) as the joined bytes, without joining them', () => {
    const k = bytes(32, 5)
    for (const sizes of [[12, 32_800], [12, 0, 600, 1], [1, 511], [12, 1000, 20_000, 3]]) {
      const pieces = sizes.map((n, i) => bytes(n, 10 + i))
      const joined = Buffer.concat(pieces)
      const list = new Uint8ArrayList(...pieces)
      const ours = flat(noiseCrypto.chaCha20Poly1305Encrypt(list as any, nonce, ad, k))
      const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(joined, nonce, ad, k))
      expect(Buffer.from(ours).equals(Buffer.from(theirs)), sizes.join(',')).toBe(true)
    }
  })

  it('never answers with a stale key object when a key array changes in place', () => {
    const k = bytes(32, 5)
    const plain = bytes(4096, 6)
    noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k) // caches the key object of k
    k.set(bytes(32, 7))
    const ours = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
    const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, Uint8Array.from(k)))
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true)
  })

  it('refuses a tampered message', () => {
    const k = bytes(32, 8)
    const sealed = Uint8Array.from(flat(noiseCrypto.chaCha20Poly1305Encrypt(bytes(2048, 9), nonce, ad, k)))
    sealed[100] ^= 1
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k)).toThrow()
  })
})
