/**
 * The ChaCha20-Poly1305 of codenet's noise sessions (the `crypto` option of
 * @chainsafe/libp2p-noise), faster than the package's default for every message size.
 *
 * The default hands node:crypto the raw 32-byte key on every message, so Node builds a new
 * secret-key object each time: on the result exchange's profile that key handling cost more
 * than the encryption itself. A noise session's key never changes (one `k` per direction, no
 * rekeying in this implementation), so the key object is made once per key and reused. Tiny
 * messages (yamux window updates and headers, 12 bytes) go to the package's WebAssembly
 * implementation, which has no per-call setup; from SMALL_MESSAGE bytes on node:crypto's
 * native cipher wins. Everything else (hashing, HKDF, X25519) is the package's default.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { asCrypto, defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { Uint8ArrayList } from 'uint8arraylist'

/** Below this many bytes the WebAssembly cipher is faster than node:crypto's (measured: 300 vs 1100 bytes cross over). */
export const SMALL_MESSAGE = 512
const TAG = 16
/** Lists shorter than this are joined before encryption (one update call instead of one per piece). */
const JOIN_BELOW = 4096
const ALGORITHM = 'chacha20-poly1305'

/**
 * One key object per session key, looked up by the key's own array (noise keeps one per
 * direction for the session) and checked against a copy of its bytes on every use: a key array
 * whose contents changed, or a new array that happens to reuse a collected one's slot, can never
 * be answered with another key's object. 32 byte compares cost nothing next to the cipher.
 */
const keyObjects = new WeakMap<Uint8Array, { bytes: Uint8Array, key: KeyObject }>()
function keyObject (k: Uint8Array): KeyObject {
  const hit = keyObjects.get(k)
  if (hit !== undefined && sameBytes(hit.bytes, k)) return hit.key
  const entry = { bytes: Uint8Array.from(k), key: createSecretKey(k) }
  keyObjects.set(k, entry)
  return entry.key
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The package's byte type (a Uint8Array or its own version's Uint8ArrayList). */
type Bytes = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0]
const flat = (x: Bytes): Uint8Array => x instanceof Uint8Array ? x : x.subarray()

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    if (plaintext.byteLength < SMALL_MESSAGE) return asCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    // A long list (the muxer's header and its data) is encrypted piece by piece, not joined
    // first: the cipher streams, and the pieces out are the same bytes as one update over the
    // joined list. A short one is joined: copying a few KiB costs less than another update call.
    const out = new Uint8ArrayList()
    if (plaintext instanceof Uint8Array || plaintext.byteLength < JOIN_BELOW) out.append(cipher.update(flat(plaintext)))
    else for (const piece of plaintext) out.append(cipher.update(piece))
    cipher.final()
    // Body and tag as a list, not copied into one buffer: the TCP transport writes a batch's
    // pieces in one corked writev (node/tcp-corked.ts).
    out.append(cipher.getAuthTag())
    return out as unknown as ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>
  },
  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < SMALL_MESSAGE + TAG) return asCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const bytes = flat(ciphertext)
    const decipher = createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG })
    decipher.setAAD(ad, { plaintextLength: bytes.byteLength - TAG })
    decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG))
    const plain = decipher.update(bytes.subarray(0, bytes.byteLength - TAG))
    decipher.final() // throws when the tag does not verify
    return plain
  }
}
