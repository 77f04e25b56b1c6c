/**
 * The ids of the signed control commands a peer obeyed, each kept until its envelope can no
 * longer be valid, so no envelope is obeyed twice — within one boot, and after a restart too.
 *
 * The boot nonce a command is signed for (node/control-auth.ts) already makes an envelope of an
 * earlier boot useless; this memory covers the rest: the same envelope sent twice to the same
 * boot, and a peer that crashes after it recorded a command but before it acted on it (the id
 * is on disk before the command is obeyed, so it is obeyed at most once).
 *
 * File `control-replay.json` in the peer's data dir, written atomically (node/store.ts):
 *   { "version": 1, "ids": [[id, until], …] }   until: ms since the epoch
 * Bounded: expired ids are dropped on every write, and at most MAX_REMEMBERED are held; when
 * that many are still valid, new commands are refused until some expire (a signer that sends
 * more than that in one validity window is misbehaving, and forgetting one would allow a
 * replay). A missing file is an empty memory; a damaged one is reported and treated as empty.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { text } from '../protocols/schema.ts'
import { writeAtomic } from './store.ts'

export const REPLAY_MEMORY_FILE = 'control-replay.json'
/** Most command ids remembered at once. */
export const MAX_REMEMBERED = 1024
/** Larger than any file of MAX_REMEMBERED ids of at most 128 characters. */
const MAX_FILE_BYTES = 512 * 1024

const fileSchema = z.object({
  version: z.literal(1),
  ids: z.array(z.tuple([text(128), z.number()])).max(MAX_REMEMBERED)
})

/** Why `claim` did not take an id. */
export type ClaimResult = 'ok' | 'seen' | 'full'

export class ReplayMemory {
  /** id → until (ms since the epoch). */
  private readonly ids = new Map<string, number>()
  readonly path: string | null
  private writing: Promise<void> = Promise.resolve()

  /** A memory kept in `dataDir` (null: in RAM only). Use `load` to read an existing file. */
  constructor (dataDir: string | null) {
    this.path = dataDir === null ? null : join(dataDir, REPLAY_MEMORY_FILE)
  }

  /** The memory of `dataDir`, with the ids of its file that are still valid at `now`. */
  static async load (dataDir: string | null, now = Date.now(), onDamaged?: (message: string) => void): Promise<ReplayMemory> {
    const m = new ReplayMemory(dataDir)
    if (m.path === null) return m
    let raw: string
    try { raw = await readFile(m.path, 'utf8') } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onDamaged?.(`cannot read ${m.path}: ${(err as Error).message}`)
      return m
    }
    let parsed: unknown = null
    try { if (raw.length <= MAX_FILE_BYTES) parsed = JSON.parse(raw) } catch {}
    const r = fileSchema.safeParse(parsed)
    if (!r.success) { onDamaged?.(`${m.path} is not a replay memory file; starting with an empty one`); return m }
    for (const [id, until] of r.data.ids) if (until >= now) m.ids.set(id, until)
    return m
  }

  get size (): number { return this.ids.size }

  has (id: string): boolean { return this.ids.has(id) }

  /**
   * Remember `id` until `until`: 'seen' when it is already remembered, 'full' when
   * MAX_REMEMBERED ids are still valid at `now`. Synchronous, so two copies of one envelope
   * arriving together cannot both pass.
   */
  claim (id: string, until: number, now = Date.now()): ClaimResult {
    if (this.ids.has(id)) return 'seen'
    this.prune(now)
    if (this.ids.size >= MAX_REMEMBERED) return 'full'
    this.ids.set(id, until)
    return 'ok'
  }

  private prune (now: number): void {
    for (const [id, until] of this.ids) if (until < now) this.ids.delete(id)
  }

  /**
   * Write every id claimed so far to the file (atomically; writes are serialised, each one
   * holds everything claimed before it started). Rejects when the file cannot be written.
   */
  async persist (now = Date.now()): Promise<void> {
    const path = this.path
    if (path === null) return
    const write = this.writing.then(async () => {
      this.prune(now)
      await writeAtomic(path, new TextEncoder().encode(`${JSON.stringify({ version: 1, ids: [...this.ids] })}\n`))
    })
    this.writing = write.catch(() => {})
    await write
  }
}
