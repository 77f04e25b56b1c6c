/**
 * The status document a peer answers on the control protocol's `status` request (built by
 * node/status.ts; read by `codenet status`, the launcher's monitor and the dashboards through
 * testnet/snapshot.ts). One schema, one type: `PeerStatus`.
 *
 *   job, peerId, index (-1 before the barrier closed), phase, addresses
 *   step, totalSteps, attempt, loss, trainAccuracy (mean of the last 50 steps)
 *   faults { injected, detected, corrected, uncorrectable }, rollbacks, repairs, rejoins,
 *   restoredFrom, lastCheckpoint, verdictDisagreements
 *   peers       this peer's view of every member (PeerHealth), in index order
 *   timing      seconds spent computing, encoding, decoding, waiting; step time median and p95
 *   bytes, frames, graceMs   the result exchange's counters
 *   controller  the fault controller's part (`codenet fault …`), when the peer runs one; its
 *               `boot` is the nonce a signed command must be bound to (protocols/control.ts)
 *
 * A status that crossed the wire is checked with `parsePeerStatus`: a peer that answers
 * something else is reported in one line, never trusted field by field.
 */
import { z } from 'zod'
import { count, int, issueLine, numberRecord, peerIdSchema, text } from './schema.ts'
import { FAULT_KINDS, SOFT_ERROR_KINDS, faultKindSchema, faultSiteSchema } from './fault-command.ts'

/** Members of a job (protocols/job.ts caps a job at 256 peers). */
export const MAX_STATUS_PEERS = 256

export const PEER_PHASES = ['starting', 'joining', 'training', 'finishing', 'done'] as const
export const HEALTH_STATES = ['self', 'healthy', 'suspect', 'unreachable', 'done'] as const

/** One member as this peer sees it. */
export const peerHealthSchema = z.object({
  index: int(0, MAX_STATUS_PEERS - 1),
  peerId: peerIdSchema,
  /** Agreed verdicts that named this peer. */
  flagged: count(),
  /** Times it was repaired. */
  repaired: count(),
  /** The result exchange's score of its frames (0 best; −1 per dropped frame). */
  score: z.number(),
  framesDropped: count(),
  /** ms since its last result arrived / its last hello. */
  lastResultMs: z.number().nullable(),
  lastHelloMs: z.number().nullable(),
  step: count().nullable(),
  state: z.enum(HEALTH_STATES)
})
export type PeerHealth = z.infer<typeof peerHealthSchema>

const peerIndices = z.array(int(0, MAX_STATUS_PEERS - 1)).max(MAX_STATUS_PEERS)
const perPeerCounts = z.array(count()).max(MAX_STATUS_PEERS)

/** The fault controller's part of the status (node's fault controller, `status()`). */
export const controllerStatusSchema = z.object({
  /** True when the peer obeys a control key. */
  authorised: z.boolean(),
  /**
   * This boot's nonce, new at every start of the peer: a signed command must name it (with the
   * peer id and the job hash), so a command signed for an earlier boot is refused. Absent from
   * peers older than the binding.
   */
  boot: text(64).optional(),
  active: z.array(faultKindSchema).max(FAULT_KINDS.length),
  params: z.object({
    softError: z.object({ rate: z.number(), kind: z.enum(SOFT_ERROR_KINDS), magnitude: z.number(), site: faultSiteSchema, seed: count() }).nullable(),
    straggler: z.object({ delayMs: z.number().optional() }).nullable(),
    partition: z.object({ blocked: peerIndices }).nullable(),
    byzantine: z.object({ magnitude: z.number().optional(), seed: count() }).nullable()
  }),
  injected: z.object({ softErrors: count(), byzantineResults: count() }),
  counters: z.object({
    commandsAccepted: count(),
    commandsRefused: count(),
    delayedPublishes: count(),
    pausedMs: z.number(),
    partitionDropped: count(),
    garbageFramesSent: count()
  }),
  /** Refused commands by reason (node/control-auth.ts RefusalReason): wrong-peer, stale-boot, expired, replayed, … */
  refused: numberRecord(32, count()).optional(),
  /** Per sender index: rounds that ended without its result; results that came after the threshold. */
  missing: perPeerCounts,
  late: perPeerCounts,
  /** The latest commands obeyed. */
  commands: z.array(z.object({ at: z.number(), kind: text(64), seed: z.number().nullable() })).max(256)
})
export type ControllerStatus = z.infer<typeof controllerStatusSchema>

const seconds = z.number()

export const peerStatusSchema = z.object({
  job: text(128),
  peerId: peerIdSchema,
  /** Shard index; −1 until the join barrier closed. */
  index: int(-1, MAX_STATUS_PEERS - 1),
  phase: z.enum(PEER_PHASES),
  addresses: z.array(text(1024)).max(256),
  step: count(),
  totalSteps: count().nullable(),
  attempt: count(),
  /** Loss of the latest step; null before the first (or when it was not finite). */
  loss: z.number().nullable(),
  trainAccuracy: z.number().nullable(),
  faults: z.object({ injected: count(), detected: count(), corrected: count(), uncorrectable: count() }),
  rollbacks: count(),
  repairs: count(),
  rejoins: count(),
  restoredFrom: count().nullable(),
  lastCheckpoint: count().nullable(),
  verdictDisagreements: count(),
  peers: z.array(peerHealthSchema).max(MAX_STATUS_PEERS),
  timing: z.object({
    computeS: seconds,
    encodeS: seconds,
    decodeS: seconds,
    waitS: seconds,
    stepMs: z.object({ median: z.number(), p95: z.number() })
  }),
  bytes: z.object({ sent: count(), received: count() }),
  frames: z.object({ sent: count(), received: count(), dropped: count(), dropReasons: numberRecord(64, count()) }),
  /** The result exchange's current grace per round phase. */
  graceMs: numberRecord(64),
  controller: controllerStatusSchema.optional()
})
export type PeerStatus = z.infer<typeof peerStatusSchema>

/**
 * What a peer tells anyone who is neither a member of its job nor its controller (the holder of
 * the control key, node/control-auth.ts controlPeerId): its phase and step, nothing else — not
 * the job hash, the members, their addresses or the fault history.
 */
export const restrictedStatusSchema = z.object({
  restricted: z.literal(true),
  phase: z.enum(PEER_PHASES),
  step: count()
}).strict()
export type RestrictedStatus = z.infer<typeof restrictedStatusSchema>

export type PeerStatusResult = { ok: true, status: PeerStatus } | { ok: false, restricted?: RestrictedStatus, error: string }

/** Checks a status that crossed the wire; `error` is one line naming the first bad fields. */
export function parsePeerStatus (v: unknown): PeerStatusResult {
  const r = peerStatusSchema.safeParse(v)
  if (r.success) return { ok: true, status: r.data }
  const lim = restrictedStatusSchema.safeParse(v)
  if (lim.success) return { ok: false, restricted: lim.data, error: `the peer shows only its phase (${lim.data.phase}) and step (${lim.data.step}) to non-members: ask with the testnet's control key` }
  return { ok: false, error: `malformed status: ${issueLine(r.error)}` }
}
