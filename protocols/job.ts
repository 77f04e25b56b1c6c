/**
 * A job with no master: the job spec, its hash (which names the job's gossip topics and
 * protocol ids), the join barrier, and the shard assignment every peer derives on its own.
 *
 * The spec is `{ version, config }`, written by `codenet job init`. Its hash is the sha256 of
 * its canonical JSON (keys sorted, no whitespace), so two peers holding byte-different but
 * equal specs still agree on the job.
 *
 * The barrier: every peer gossips a `hello` (protocols/gossip.ts) naming itself and the set of
 * job members it has seen. A peer's barrier completes once it has seen P peers and every one of
 * them reports having seen the same P: then every member knows every other member knows the
 * full set, and the shard assignment (index = rank of the peer id in the sorted set) is common
 * knowledge.
 */
import { createHash } from 'node:crypto'
import { validateTrainingConfig, trainingConfigFromJson, ConfigError, type TrainingConfig } from '../training/config.ts'
import type { Hello } from './gossip.ts'
import { admissionSchema, type AdmissionSpec } from './admission.ts'

export const JOB_SPEC_VERSION = 1
/** A job file is small; anything larger is not one. */
export const MAX_JOB_FILE_BYTES = 64 * 1024

export interface JobSpec {
  version: number
  config: TrainingConfig
  /** Who may take part (protocols/admission.ts); absent: an open job. Covered by the hash. */
  admission?: AdmissionSpec
}

export class JobError extends Error {
  override name = 'JobError'
}

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson (v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new JobError(`cannot encode ${v} in a job spec`)
    return JSON.stringify(v)
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  const keys = Object.keys(v as Record<string, unknown>).filter(k => (v as Record<string, unknown>)[k] !== undefined).sort()
  return `{${keys.map(k => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`
}

export function createJobSpec (config: TrainingConfig, admission?: AdmissionSpec): JobSpec {
  validateTrainingConfig(config)
  return { version: JOB_SPEC_VERSION, config, ...(admission !== undefined ? { admission } : {}) }
}

/** The `admission` member of a job file, validated (undefined when absent: an open job). */
function parseAdmission (raw: unknown): AdmissionSpec | undefined {
  if (raw === undefined) return undefined
  const r = admissionSchema.safeParse(raw)
  if (!r.success) throw new JobError(`job admission is invalid: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''}`.trim())
  return r.data
}

/** Parse and validate a job file's text. Throws JobError (or ConfigError) with a clear message. */
export function parseJobSpec (text: string): JobSpec {
  if (text.length > MAX_JOB_FILE_BYTES) throw new JobError(`job file of ${text.length} bytes is larger than ${MAX_JOB_FILE_BYTES}`)
  let raw: unknown
  try { raw = JSON.parse(text) } catch (err) { throw new JobError(`job file is not JSON: ${(err as Error).message}`) }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new JobError('job file must hold a JSON object')
  const o = raw as Record<string, unknown>
  if (o.version !== JOB_SPEC_VERSION) throw new JobError(`job spec version ${String(o.version)} is not supported (this peer reads version ${JOB_SPEC_VERSION})`)
  let config: TrainingConfig
  try {
    // Every field through the same rules as the flags (training/config.ts), then as a whole.
    config = trainingConfigFromJson(o.config)
  } catch (err) {
    if (err instanceof ConfigError) throw new JobError(`job config is invalid: ${err.message}`)
    throw err
  }
  const admission = parseAdmission(o.admission)
  return { version: JOB_SPEC_VERSION, config, ...(admission !== undefined ? { admission } : {}) }
}

/** sha256 of the canonical JSON, hex. */
export function jobHash (spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex')
}

export interface JobNames {
  hash: string
  /** The first 8 bytes of the hash: carried in every result frame. */
  jobId: Uint8Array
  topics: { join: string, verdict: string }
  protocols: { results: string, control: string }
}

export function jobNames (hash: string): JobNames {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new JobError(`not a job hash: '${hash}'`)
  const short = hash.slice(0, 16)
  return {
    hash,
    jobId: Uint8Array.from(Buffer.from(short, 'hex')),
    topics: { join: `/codenet/job/${short}/join`, verdict: `/codenet/job/${short}/verdict` },
    protocols: { results: `/codenet/job/${short}/results/1.0.0`, control: '/codenet/control/1.0.0' }
  }
}

/** index ← rank of the peer id in the sorted member set. */
export function assignIndices (peerIds: readonly string[]): string[] {
  const sorted = [...new Set(peerIds)].sort()
  if (sorted.length !== peerIds.length) throw new JobError('duplicate peer ids in the member set')
  return sorted
}

/** A joining peer not heard from for this long leaves the barrier's view (it may have gone). */
export const BARRIER_AGE_MS = 30_000

/**
 * The barrier's state, pure: feed it hellos, ask whether it is complete. When more than P
 * admitted peers show up, the P with the smallest ids win; a peer outside them is told so by
 * `members`. Only admitted peers enter (protocols/admission.ts): a hello from anyone else is
 * ignored, and the peer ids a hello says it has seen are kept only when admitted, at most 2·P.
 * Joining peers that fall silent for BARRIER_AGE_MS leave the view, so the view stays bounded
 * and current while the barrier is open.
 */
export class JoinBarrier {
  readonly peers: number
  readonly self: string
  private readonly views = new Map<string, Set<string>>()
  private readonly latest = new Map<string, Hello & { at: number }>()
  private readonly admitted: (peer: string) => boolean
  private readonly now: () => number

  constructor (self: string, peers: number, admitted: (peer: string) => boolean = () => true, now: () => number = Date.now) {
    this.self = self
    this.peers = peers
    this.admitted = admitted
    this.now = now
    this.views.set(self, new Set([self]))
  }

  /** Records a hello from an admitted peer (the caller checked its ticket); others are ignored. */
  observe (h: Hello): void {
    if (h.peer === this.self || !this.admitted(h.peer)) return
    const seen = new Set<string>()
    for (const p of h.seen) {
      if (seen.size >= 2 * this.peers) break
      if (this.admitted(p)) seen.add(p)
    }
    this.views.set(h.peer, seen)
    this.latest.set(h.peer, { ...h, at: this.now() })
    this.views.get(this.self)?.add(h.peer)
  }

  /** Forget joining peers silent for BARRIER_AGE_MS (only while the barrier is open). */
  age (): void {
    const t = this.now()
    const mine = this.views.get(this.self) as Set<string>
    for (const [p, h] of this.latest) {
      if (t - h.at <= BARRIER_AGE_MS) continue
      mine.delete(p)
      this.views.delete(p)
      this.latest.delete(p)
    }
  }

  /** The members this peer has seen, itself included. */
  seen (): string[] { return [...(this.views.get(this.self) ?? [])].sort() }

  /** The latest hello of a peer, with the time it arrived. */
  helloOf (peer: string): (Hello & { at: number }) | undefined { return this.latest.get(peer) }

  /** True when every other member's latest hello says it is ready. */
  allReady (members: readonly string[]): boolean {
    return members.every(p => p === this.self || this.latest.get(p)?.ready === true)
  }

  /** The agreed member set (sorted), or null while the barrier is open. */
  members (): string[] | null {
    const mine = this.seen()
    if (mine.length < this.peers) return null
    const chosen = mine.slice(0, this.peers)
    if (!chosen.includes(this.self)) return null
    for (const p of chosen) {
      if (p === this.self) continue
      const v = this.views.get(p)
      if (v === undefined) return null
      for (const q of chosen) if (!v.has(q)) return null
    }
    return chosen
  }
}
