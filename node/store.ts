/**
 * A peer's files in its data directory: its Ed25519 identity (so a restarted peer keeps its
 * peer id) and its checkpoints.
 *
 * Every file is written atomically (temp file, fsync, rename) and carries a sha256 of its
 * body, so a crash mid-write leaves the previous file intact and a damaged file is refused,
 * never loaded. Checkpoint file layout:
 *
 *   'CNCK' | u8 version | 32 bytes sha256(body) | u32 header length | header JSON | body
 *
 * where body = header JSON + the concatenated binary blobs, and the header lists each blob's
 * name and length. Blobs are opaque bytes here; `node/engine.ts` decides what goes in them
 * (`checkCheckpointContent` only range-checks the `trainer` blob before a restore).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CheckpointError, deserializeCheckpoint } from '../training/checkpoint.ts'

export class StoreError extends Error {
  override name = 'StoreError'
}

const IDENTITY_FILE = 'identity.key'
const IDENTITY_MAGIC = 'codenet-identity-v1\n'
const CK_MAGIC = Uint8Array.from([0x43, 0x4e, 0x43, 0x4b])
const CK_VERSION = 1
const MAX_HEADER = 1 << 20
/** Refuse absurd files outright instead of reading them into memory. */
export const MAX_CHECKPOINT_BYTES = 1 << 30

/** Write `data` to `path` atomically: temp file, fsync, rename (a crash leaves the old file or the new one). */
export async function writeAtomic (path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

const sha256 = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest()

/** Create the data dir (and its parents) if needed; a path that is a file, or unwritable, is a StoreError naming it. */
export async function ensureDataDir (dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'a file is in the way (it must be a directory)' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.message
    throw new StoreError(`data dir ${dataDir} cannot be used: ${why}`)
  }
}

/** Load the peer's key from the data dir, or create and save one. */
export async function loadOrCreateIdentity (dataDir: string): Promise<{ key: PrivateKey, created: boolean }> {
  await ensureDataDir(dataDir)
  const path = join(dataDir, IDENTITY_FILE)
  let text: string | null = null
  try { text = await readFile(path, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${path}: ${(err as Error).message}`)
  }
  if (text !== null) {
    const lines = text.split('\n')
    if (text.length > 4096 || `${lines[0]}\n` !== IDENTITY_MAGIC || lines.length < 3) throw new StoreError(`${path} is not a codenet identity file`)
    const key = Buffer.from(lines[1], 'base64')
    const sum = Buffer.from(sha256(key)).toString('hex')
    if (sum !== lines[2]) throw new StoreError(`${path} fails its checksum; refusing to use it (move it away to create a new identity)`)
    try {
      return { key: privateKeyFromProtobuf(key), created: false }
    } catch (err) {
      throw new StoreError(`${path} holds no valid key: ${(err as Error).message}`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  const pb = privateKeyToProtobuf(key)
  await writeAtomic(path, new TextEncoder().encode(`${IDENTITY_MAGIC}${Buffer.from(pb).toString('base64')}\n${Buffer.from(sha256(pb)).toString('hex')}\n`))
  return { key, created: true }
}

export interface CheckpointFile {
  /** Small JSON metadata (step, job hash, …). */
  meta: Record<string, unknown>
  blobs: Map<string, Uint8Array>
}

export function encodeCheckpoint (ck: CheckpointFile): Uint8Array {
  const names = [...ck.blobs.keys()]
  const header = new TextEncoder().encode(JSON.stringify({ meta: ck.meta, blobs: names.map(n => ({ name: n, length: ck.blobs.get(n)!.length })) }))
  if (header.length > MAX_HEADER) throw new StoreError('checkpoint header too large')
  const bodyLength = header.length + names.reduce((a, n) => a + ck.blobs.get(n)!.length, 0)
  const out = new Uint8Array(4 + 1 + 32 + 4 + bodyLength)
  out.set(CK_MAGIC, 0)
  out[4] = CK_VERSION
  new DataView(out.buffer).setUint32(37, header.length)
  let o = 41
  out.set(header, o); o += header.length
  for (const n of names) { const b = ck.blobs.get(n)!; out.set(b, o); o += b.length }
  out.set(sha256(out.subarray(41)), 5)
  return out
}

/** Parse and verify; throws StoreError on any damage. */
export function decodeCheckpoint (bytes: Uint8Array): CheckpointFile {
  if (bytes.length < 41) throw new StoreError('checkpoint is truncated')
  for (let i = 0; i < 4; i++) if (bytes[i] !== CK_MAGIC[i]) throw new StoreError('not a codenet checkpoint')
  if (bytes[4] !== CK_VERSION) throw new StoreError(`checkpoint version ${bytes[4]} is not supported`)
  const want = bytes.subarray(5, 37)
  const got = sha256(bytes.subarray(41))
  for (let i = 0; i < 32; i++) if (want[i] !== got[i]) throw new StoreError('checkpoint fails its checksum; refusing to load it')
  const hl = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(37)
  if (hl > MAX_HEADER || 41 + hl > bytes.length) throw new StoreError('checkpoint header length out of range')
  let header: { meta: Record<string, unknown>, blobs: Array<{ name: string, length: number }> }
  try { header = JSON.parse(new TextDecoder().decode(bytes.subarray(41, 41 + hl))) } catch { throw new StoreError('checkpoint header is not JSON') }
  if (header === null || typeof header.meta !== 'object' || !Array.isArray(header.blobs)) throw new StoreError('checkpoint header has the wrong shape')
  const blobs = new Map<string, Uint8Array>()
  let o = 41 + hl
  for (const b of header.blobs) {
    if (typeof b?.name !== 'string' || !Number.isInteger(b.length) || b.length < 0 || o + b.length > bytes.length) throw new StoreError('checkpoint blob table is inconsistent')
    blobs.set(b.name, bytes.slice(o, o + b.length))
    o += b.length
  }
  if (o !== bytes.length) throw new StoreError('checkpoint has trailing bytes')
  return { meta: header.meta, blobs }
}

const CK_RE = /^checkpoint-(\d{10})\.ck$/

export interface CheckpointStore {
  /** Write the checkpoint of `step` atomically; keeps the newest `keep` files. */
  save: (step: number, ck: CheckpointFile) => Promise<string>
  /** The newest checkpoint that verifies and passes `validate` (others are reported through `onRefused` and skipped). */
  loadLatest: (onRefused?: (file: string, err: StoreError) => void) => Promise<{ step: number, ck: CheckpointFile } | null>
  load: (step: number) => Promise<CheckpointFile>
  list: () => Promise<number[]>
}

/**
 * What `loadLatest` checks of a checkpoint beyond its checksum (a file rewritten with valid
 * checksums passes that): its metadata's step is the step it is filed under, and its `trainer`
 * blob, when it has one, decodes with every range and finiteness check of training/checkpoint.ts
 * and holds that same step. Throws StoreError.
 */
export function checkCheckpointContent (step: number, ck: CheckpointFile): void {
  if (ck.meta.step !== undefined && ck.meta.step !== step) throw new StoreError(`checkpoint metadata says step ${String(ck.meta.step)}, the file is step ${step}`)
  const blob = ck.blobs.get('trainer')
  if (blob === undefined) return
  try {
    deserializeCheckpoint(blob, { step })
  } catch (err) {
    if (err instanceof CheckpointError) throw new StoreError(err.message)
    throw err
  }
}

/**
 * `validate` runs on every checkpoint `loadLatest` considers; one it refuses is skipped like a
 * damaged file, so the newest checkpoint that passes is restored — never a fresh start while an
 * older valid checkpoint is on disk.
 */
export function createCheckpointStore (dir: string, keep = 3, validate: (step: number, ck: CheckpointFile) => void = checkCheckpointContent): CheckpointStore {
  const file = (step: number): string => join(dir, `checkpoint-${String(step).padStart(10, '0')}.ck`)
  const list = async (): Promise<number[]> => {
    let names: string[] = []
    try { names = await readdir(dir) } catch { return [] }
    return names.map(n => CK_RE.exec(n)).filter(m => m !== null).map(m => Number(m[1])).sort((a, b) => a - b)
  }
  const load = async (step: number): Promise<CheckpointFile> => {
    const fh = await open(file(step), 'r')
    try {
      const { size } = await fh.stat()
      if (size > MAX_CHECKPOINT_BYTES) throw new StoreError(`checkpoint of ${size} bytes is larger than ${MAX_CHECKPOINT_BYTES}`)
      return decodeCheckpoint(await fh.readFile())
    } finally { await fh.close() }
  }
  return {
    list,
    load,
    async save (step, ck) {
      await mkdir(dir, { recursive: true })
      const path = file(step)
      await writeAtomic(path, encodeCheckpoint(ck))
      const all = await list()
      for (const s of all.slice(0, Math.max(0, all.length - keep))) await rm(file(s), { force: true })
      return path
    },
    async loadLatest (onRefused) {
      const all = await list()
      for (let i = all.length - 1; i >= 0; i--) {
        try {
          const ck = await load(all[i])
          validate(all[i], ck)
          return { step: all[i], ck }
        } catch (err) {
          onRefused?.(file(all[i]), err instanceof StoreError ? err : new StoreError((err as Error).message))
        }
      }
      return null
    }
  }
}

const PEERS_FILE = 'peers.json'
const MAX_PEERS_FILE = 256 * 1024

/**
 * The addresses of the job's other members as last heard (`/…/p2p/<id>` multiaddrs), so a
 * restarted peer can find them again even when its bootstrap peer is the one that moved.
 */
export async function saveKnownPeers (dataDir: string, addrs: readonly string[]): Promise<void> {
  await writeAtomic(join(dataDir, PEERS_FILE), new TextEncoder().encode(`${JSON.stringify({ version: 1, addrs: addrs.slice(0, 1024) })}\n`))
}

/** Saved member addresses; an absent or damaged file gives none (it is only a hint). */
export async function loadKnownPeers (dataDir: string): Promise<string[]> {
  try {
    const text = await readFile(join(dataDir, PEERS_FILE), 'utf8')
    if (text.length > MAX_PEERS_FILE) return []
    const v = JSON.parse(text) as { version?: unknown, addrs?: unknown }
    if (v.version !== 1 || !Array.isArray(v.addrs)) return []
    return v.addrs.filter((a): a is string => typeof a === 'string' && a.length < 256 && /\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(a))
  } catch {
    return []
  }
}
