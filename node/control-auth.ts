/**
 * Signed control commands: a testnet's Ed25519 control key, and the check a peer runs before it
 * obeys a command (fault injection, crash, …).
 *
 * The signature covers the canonical JSON (keys sorted, no whitespace) of
 * `{ v, type, id, body, target, issuedAt, expiresAt }` of the control envelope
 * (`protocols/control.ts`, whose schema bounds every field); `signer` carries the public key
 * (SPKI DER, base64). A command is bound to one peer, one job and one boot of that peer
 * (`target`: the peer id, the job hash, and the boot nonce the peer publishes in its status,
 * new at every start): the signer reads the status first, then signs for what it read. A peer
 * refuses, each with its own reason (`ControlAuthError.reason`): a command for another peer,
 * another job or an earlier boot; one not valid yet or expired (`issuedAt`..`expiresAt`, at most
 * MAX_COMMAND_LIFETIME_MS, with MAX_CLOCK_SKEW_MS of tolerance between the clocks); and an id it
 * has obeyed before (node/replay-memory.ts, kept in the data dir until the id expires).
 *
 * Key files are PEM: the private key stays in the testnet's state folder (mode 0600), the peers
 * get only the public key (`codenet peer --control-key FILE`).
 */
import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PrivateKey as Libp2pPrivateKey } from '@libp2p/interface'
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { canonicalJson } from '../protocols/job.ts'
import { CONTROL_VERSION, type ControlRequest, type ControlTarget } from '../protocols/control.ts'
import { ReplayMemory } from './replay-memory.ts'

/** Why a peer refused a signed command (counted per reason in its status). */
export type RefusalReason =
  | 'no-key' | 'starting' | 'unsigned' | 'unknown-key' | 'bad-signature' | 'unbound'
  | 'wrong-peer' | 'wrong-job' | 'stale-boot' | 'bad-lifetime' | 'not-yet-valid' | 'expired'
  | 'replayed' | 'memory-full' | 'memory-write' | 'bad-command'

export class ControlAuthError extends Error {
  override name = 'ControlAuthError'
  /** Set when a command was refused; undefined for key-file errors. */
  readonly reason?: RefusalReason

  constructor (message: string, reason?: RefusalReason) {
    super(message)
    if (reason !== undefined) this.reason = reason
  }
}

/** How long a command signed by signControlRequest stays valid. */
export const COMMAND_LIFETIME_MS = 30_000
/** The longest validity (issuedAt → expiresAt) a peer accepts. */
export const MAX_COMMAND_LIFETIME_MS = 60_000
/** How far the signer's clock may be from the peer's. */
export const MAX_CLOCK_SKEW_MS = 30_000
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
  // createPublicKey would derive the public key from a private one: accepting it would invite
  // copying the testnet's private key onto every peer.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new ControlAuthError(`${path} is a private key: a peer needs only the public half (the testnet's control.pub.pem), never the private key`)
  }
  let k: KeyObject
  try { k = createPublicKey(text) } catch (err) { throw new ControlAuthError(`${path} is not a PEM public key: ${(err as Error).message}`) }
  if (k.asymmetricKeyType !== 'ed25519') throw new ControlAuthError(`${path} is a ${String(k.asymmetricKeyType)} key, not Ed25519`)
  return k
}

const signerOf = (pub: KeyObject): string => (pub.export({ type: 'spki', format: 'der' })).toString('base64')

type Signed = Pick<ControlRequest, 'v' | 'type' | 'id' | 'body' | 'target' | 'issuedAt' | 'expiresAt'>

const signedBytes = (r: Signed): Buffer => Buffer.from(canonicalJson({
  v: r.v, type: r.type, id: r.id, body: r.body ?? null, target: r.target ?? null, issuedAt: r.issuedAt ?? null, expiresAt: r.expiresAt ?? null
}), 'utf8')

/**
 * A signed request envelope for `type` with `body`, for one peer, job and boot (`target`, read
 * from that peer's status), valid for `lifetimeMs` from `now`.
 */
export function signControlRequest (
  key: KeyObject, type: string, body: unknown, target: ControlTarget, opts: { now?: number, lifetimeMs?: number } = {}
): ControlRequest {
  const now = opts.now ?? Date.now()
  const req: Signed = {
    v: CONTROL_VERSION, type, id: `${now}.${randomBytes(8).toString('hex')}`, body, target: { ...target }, issuedAt: now, expiresAt: now + (opts.lifetimeMs ?? COMMAND_LIFETIME_MS)
  }
  return { ...req, signer: signerOf(createPublicKey(key)), signature: sign(null, signedBytes(req), key).toString('base64') }
}

const short = (s: string): string => s.length > 16 ? `${s.slice(0, 12)}…` : s

/**
 * Verifies a command: signed by the one authorised key, for this peer, job and boot, within its
 * lifetime, and never obeyed before (the replay memory, in RAM unless one kept in the data dir
 * is given).
 */
export class ControlVerifier {
  private readonly key: KeyObject
  private readonly signer: string
  private readonly now: () => number
  readonly memory: ReplayMemory

  constructor (authorised: KeyObject, opts: { now?: () => number, memory?: ReplayMemory } = {}) {
    this.key = authorised
    this.signer = signerOf(authorised)
    this.now = opts.now ?? Date.now
    this.memory = opts.memory ?? new ReplayMemory(null)
  }

  /**
   * Throws ControlAuthError (with its reason) unless `req` is signed by the authorised key, for
   * `self`, valid now and unseen; then remembers its id (in RAM: persisting it is the caller's
   * `memory.persist()`, before it acts).
   */
  check (req: ControlRequest, self: ControlTarget): void {
    if (typeof req.signature !== 'string' || typeof req.signer !== 'string') throw new ControlAuthError('command is not signed', 'unsigned')
    if (req.signer !== this.signer) throw new ControlAuthError('command is signed by a key this peer does not obey', 'unknown-key')
    let ok = false
    try { ok = verify(null, signedBytes(req), this.key, Buffer.from(req.signature, 'base64')) } catch { ok = false }
    if (!ok) throw new ControlAuthError('bad signature', 'bad-signature')
    const { target, issuedAt, expiresAt } = req
    if (target === undefined || issuedAt === undefined || expiresAt === undefined) {
      throw new ControlAuthError('command is not bound to a peer, job, boot and lifetime (signed by an older codenet?)', 'unbound')
    }
    if (target.peer !== self.peer) throw new ControlAuthError(`command is for peer ${short(target.peer)}, not this peer (${short(self.peer)})`, 'wrong-peer')
    if (target.job !== self.job) throw new ControlAuthError(`command is for job ${short(target.job)}, this peer runs job ${short(self.job)}`, 'wrong-job')
    if (target.boot !== self.boot) throw new ControlAuthError('command is for another boot of this peer (it restarted since the command was signed: read its status and sign again)', 'stale-boot')
    if (expiresAt <= issuedAt || expiresAt - issuedAt > MAX_COMMAND_LIFETIME_MS) {
      throw new ControlAuthError(`command lifetime ${expiresAt - issuedAt} ms is outside (0, ${MAX_COMMAND_LIFETIME_MS}]`, 'bad-lifetime')
    }
    const t = this.now()
    if (t < issuedAt - MAX_CLOCK_SKEW_MS) throw new ControlAuthError(`command is issued ${Math.round((issuedAt - t) / 1000)} s in the future (check the clocks)`, 'not-yet-valid')
    const until = expiresAt + MAX_CLOCK_SKEW_MS
    if (t > until) throw new ControlAuthError(`command expired ${Math.round((t - expiresAt) / 1000)} s ago`, 'expired')
    const claim = this.memory.claim(req.id, until, t)
    if (claim === 'seen') throw new ControlAuthError('command replayed (this peer obeyed it already)', 'replayed')
    if (claim === 'full') throw new ControlAuthError('too many commands within their validity window; try again shortly', 'memory-full')
  }
}

/**
 * The controller's libp2p identity is its control key: the client that holds the private key
 * dials as this peer id (the noise handshake proves it), and a peer shows its full status only
 * to its members and to this id (node/engine.ts). No extra signature per status request.
 */
export function controlPeerId (key: KeyObject): string {
  const x = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x
  if (typeof x !== 'string') throw new ControlAuthError('not an Ed25519 key')
  return peerIdFromPublicKey(publicKeyFromRaw(Buffer.from(x, 'base64url'))).toString()
}

/** The libp2p private key of the controller holding `key` (Ed25519 raw form: seed ‖ public key). */
export function controlLibp2pKey (key: KeyObject): Libp2pPrivateKey {
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new ControlAuthError('not an Ed25519 private key')
  return privateKeyFromRaw(Buffer.concat([Buffer.from(jwk.d, 'base64url'), Buffer.from(jwk.x, 'base64url')]))
}
