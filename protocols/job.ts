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
import { validateTrainingConfig, ConfigError, DEFAULT_CONFIG, type TrainingConfig } from '../training/config.ts'
import type { Hello } from './gossip.ts'

export const JOB_SPEC_VERSION = 1
/** A job file is small; anything larger is not one. */
export const MAX_JOB_FILE_BYTES = 64 * 1024

export interface JobSpec {
  version: number
  config: TrainingConfig
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

export function createJobSpec (config: TrainingConfig): JobSpec {
  validateTrainingConfig(config)
  return { version: JOB_SPEC_VERSION, config }
}

/** Parse and validate a job file's text. Throws JobError (or ConfigError) with a clear message. */
export function parseJobSpec (text: string): JobSpec {
  if (text.length > MAX_JOB_FILE_BYTES) throw new JobError(`job file of ${text.length} bytes is larger than ${MAX_JOB_FILE_BYTES}`)
  let raw: unknown
  try { raw = JSON.parse(text) } catch (err) { throw new JobError(`job file is not JSON: ${(err as Error).message}`) }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new JobError('job file must hold a JSON object')
  const o = raw as Record<string, unknown>
  if (o.version !== JOB_SPEC_VERSION) throw new JobError(`job spec version ${String(o.version)} is not supported (this peer reads version ${JOB_SPEC_VERSION})`)
  const c = o.config
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new JobError('job spec has no config object')
  const cfg = c as Record<string, unknown>
  // Every field must be present with the type of the default: a job file from another version
  // of codenet is refused rather than half-understood.
  for (const [k, def] of Object.entries(DEFAULT_CONFIG)) {
    if (!(k in cfg)) throw new JobError(`job config lacks '${k}'`)
    const v = cfg[k]
    const ok = k === 'code' || k === 'epochs' || k === 'steps'
      ? v === null || typeof v === 'number' || (k === 'code' && typeof v === 'object')
      : Array.isArray(def) ? Array.isArray(v) && v.every(x => Number.isInteger(x) && x > 0) : typeof v === typeof def
    if (!ok) throw new JobError(`job config field '${k}' has the wrong type`)
  }
  for (const k of Object.keys(cfg)) if (!(k in DEFAULT_CONFIG)) throw new JobError(`job config has an unknown field '${k}'`)
  if (cfg.code !== null) {
    const code = cfg.code as Record<string, unknown>
    if (code.scheme !== 'polydot' || !Number.isInteger(code.m) || !Number.isInteger(code.n) || (code.m as number) < 1 || (code.n as number) < 1) {
      throw new JobError('job config code must be { scheme: "polydot", m, n } with positive whole m, n')
    }
  }
  const config = cfg as unknown as TrainingConfig
  try {
    validateTrainingConfig(config)
  } catch (err) {
    if (err instanceof ConfigError) throw new JobError(`job config is invalid: ${err.message}`)
    throw err
  }
  if (!Number.isInteger(config.peers) || config.peers < 1 || config.peers > 256) throw new JobError('job config peers must be 1..256')
  return { version: JOB_SPEC_VERSION, config }
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

/**
 * The barrier's state, pure: feed it hellos, ask whether it is complete. When more than P
 * peers show up, the P with the smallest ids win; a peer outside them is told so by `members`.
 */
export class JoinBarrier {
  readonly peers: number
  readonly self: string
  private readonly views = new Map<string, Set<string>>()
  private readonly latest = new Map<string, Hello & { at: number }>()

  constructor (self: string, peers: number) {
    this.self = self
    this.peers = peers
    this.views.set(self, new Set([self]))
  }

  observe (h: Hello): void {
    this.views.set(h.peer, new Set(h.seen))
    this.latest.set(h.peer, { ...h, at: Date.now() })
    this.views.get(this.self)?.add(h.peer)
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
