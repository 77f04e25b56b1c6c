/**
 * Signed control commands: a testnet's Ed25519 control key, and the check a peer runs before it
 * obeys a command (fault injection, crash, …).
 *
 * The signature covers the canonical JSON (keys sorted, no whitespace) of `{ v, type, id, body }`
 * of the control envelope (`protocols/control.ts`, whose schema bounds every field); `signer`
 * carries the public key (SPKI DER, base64). Replay protection: the id starts with the signer's
 * clock in ms (`<ms>.<random hex>`); a peer refuses ids older or newer than a window and ids it
 * has already seen in that window.
 *
 * Key files are PEM: the private key stays in the testnet's state folder (mode 0600), the peers
 * get only the public key (`codenet peer --control-key FILE`).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { canonicalJson } from '../protocols/job.ts'
import { CONTROL_VERSION, type ControlRequest } from '../protocols/control.ts'

export class ControlAuthError extends Error {
  override name = 'ControlAuthError'
}

/** How far a command's timestamp may be from the peer's clock. */
export const REPLAY_WINDOW_MS = 60_000
const MAX_KEY_FILE = 4096

export interface ControlKeyPair {
  privateKey: KeyObject
  publicKey: KeyObject
}

export function generateControlKey (): ControlKeyPair {
  return generateKeyPairSync('ed25519')
}

/** Write `key.pem` (private, 0600) and `key.pub.pem` paths given. */
export function saveControlKey (pair: ControlKeyPair, privatePath: string, publicPath: string): void {
  writeFileSync(privatePath, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 })
  writeFileSync(publicPath, pair.publicKey.export({ type: 'spki', format: 'pem' }) as string)
}

function readSmall (path: string, what: string): string {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (err) { throw new ControlAuthError(`cannot read ${what} ${path}: ${(err as Error).message}`) }
  if (text.length > MAX_KEY_FILE) throw new ControlAuthError(`${path} is too large to be a ${what}`)
  return text
}

export function loadControlPrivateKey (path: string): KeyObject {
  const text = readSmall(path, 'control key')
  let k: KeyObject
  try { k = createPrivateKey(text) } catch (err) { throw new ControlAuthError(`${path} is not a PEM private key: ${(err as Error).message}`) }
  if (k.asymmetricKeyType !== 'ed25519') throw new ControlAuthError(`${path} is a ${String(k.asymmetricKeyType)} key, not Ed25519`)
  return k
}

export function loadControlPublicKey (path: string): KeyObject {
  const text = readSmall(path, 'control public key')
  let k: KeyObject
  try { k = createPublicKey(text) } catch (err) { throw new ControlAuthError(`${path} is not a PEM public key: ${(err as Error).message}`) }
  if (k.asymmetricKeyType !== 'ed25519') throw new ControlAuthError(`${path} is a ${String(k.asymmetricKeyType)} key, not Ed25519`)
  return k
}

const signerOf = (pub: KeyObject): string => (pub.export({ type: 'spki', format: 'der' })).toString('base64')

const signedBytes = (r: Pick<ControlRequest, 'v' | 'type' | 'id' | 'body'>): Buffer =>
  Buffer.from(canonicalJson({ v: r.v, type: r.type, id: r.id, body: r.body ?? null }), 'utf8')

/** A signed request envelope for `type` with `body`. */
export function signControlRequest (key: KeyObject, type: string, body: unknown, now = Date.now()): ControlRequest {
  const id = `${now}.${randomBytes(8).toString('hex')}`
  const req: ControlRequest = { v: CONTROL_VERSION, type, id, body }
  return { ...req, signer: signerOf(createPublicKey(key)), signature: sign(null, signedBytes(req), key).toString('base64') }
}

/** Verifies signatures against one authorised key and refuses replays. */
export class ControlVerifier {
  private readonly key: KeyObject
  private readonly signer: string
  private readonly seen = new Map<string, number>()
  private readonly now: () => number

  constructor (authorised: KeyObject, now: () => number = Date.now) {
    this.key = authorised
    this.signer = signerOf(authorised)
    this.now = now
  }

  /** Throws ControlAuthError unless `req` is signed by the authorised key, fresh and unseen. */
  check (req: ControlRequest): void {
    if (typeof req.signature !== 'string' || typeof req.signer !== 'string') throw new ControlAuthError('command is not signed')
    if (req.signer !== this.signer) throw new ControlAuthError('command is signed by a key this peer does not obey')
    let ok = false
    try { ok = verify(null, signedBytes(req), this.key, Buffer.from(req.signature, 'base64')) } catch { ok = false }
    if (!ok) throw new ControlAuthError('bad signature')
    const ts = Number(/^(\d{10,16})\./.exec(req.id)?.[1])
    const t = this.now()
    if (!Number.isFinite(ts) || Math.abs(t - ts) > REPLAY_WINDOW_MS) throw new ControlAuthError('command is outside the replay window (check the clocks)')
    for (const [id, at] of this.seen) if (t - at > 2 * REPLAY_WINDOW_MS) this.seen.delete(id)
    if (this.seen.has(req.id)) throw new ControlAuthError('command replayed')
    this.seen.set(req.id, t)
  }
}
