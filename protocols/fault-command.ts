/**
 * The bodies of the signed fault commands on the control protocol (protocols/control.ts; the
 * signature is node/control-auth.ts's business, what a peer does with them the fault
 * controller's):
 *
 *   request `fault`        body FaultCommand: a kind, a seed, and the kind's parameters
 *   request `fault-clear`  body `{}`
 *   answer of `fault`        FaultApplied `{ applied, active }`
 *   answer of `fault-clear`  FaultCleared `{ cleared: true }`
 *
 * The command body crossed the wire: parseFaultCommand validates it (FaultCommandError with a
 * one-line reason naming the field). Unknown fields are dropped.
 */
import { z } from 'zod'
import { ERROR_KINDS, FAULT_SITES } from '../training/soft-errors.ts'
import { int } from './schema.ts'

export const FAULT_KINDS = ['soft-error', 'straggler', 'crash', 'pause', 'partition', 'byzantine', 'garbage-frames'] as const
export const faultKindSchema = z.enum(FAULT_KINDS, { error: iss => `unknown fault kind '${String(iss.input)}'` })
export type FaultKind = z.infer<typeof faultKindSchema>

/** The soft-error kinds: training/soft-errors.ts's one list. */
export const SOFT_ERROR_KINDS = ERROR_KINDS
/** Where a soft error strikes: a training fault site, or any of them. */
export const faultSiteSchema = z.enum([...FAULT_SITES, 'any'])

export class FaultCommandError extends Error {
  override name = 'FaultCommandError'
}

const real = (min: number, max: number) => z.number().min(min).max(max)

/** The body of a signed `fault` control request. */
export const faultCommandSchema = z.object({
  kind: faultKindSchema,
  seed: int(0, 2 ** 31 - 1, { error: 'fault seed must be a whole number in [0, 2^31)' }),
  /** soft-error */
  rate: real(0, 1).optional(),
  errorKind: z.enum(SOFT_ERROR_KINDS).optional(),
  magnitude: real(0, 1e12).optional(),
  site: faultSiteSchema.optional(),
  /** straggler */
  delayMs: real(0, 600_000).optional(),
  /** partition: cut the link between `from` and `to`, or split the peers in halves when both are absent */
  from: int(0, 255).optional(),
  to: int(0, 255).optional()
}).refine(c => (c.from === undefined) === (c.to === undefined), { error: 'partition needs both from and to, or neither (halves)' })

export type FaultCommand = z.infer<typeof faultCommandSchema>

/** Validates a command body (it crossed the wire). Throws FaultCommandError. */
export function parseFaultCommand (v: unknown): FaultCommand {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FaultCommandError('fault command must be an object')
  const r = faultCommandSchema.safeParse(v)
  if (r.success) return r.data
  // The first issue, in field order: kind, seed, then the parameters.
  const issue = r.error.issues[0]
  const field = issue.path[0]
  if (field === undefined || field === 'kind' || field === 'seed') throw new FaultCommandError(issue.message)
  throw new FaultCommandError(`fault ${String((v as { kind?: unknown }).kind)}: bad '${String(field)}'`)
}

/** The answer to `fault`: the kind applied and every kind now active. */
export const faultAppliedSchema = z.object({ applied: faultKindSchema, active: z.array(faultKindSchema).max(FAULT_KINDS.length) })
export type FaultApplied = z.infer<typeof faultAppliedSchema>

/** The answer to `fault-clear`. */
export const faultClearedSchema = z.object({ cleared: z.literal(true) })
export type FaultCleared = z.infer<typeof faultClearedSchema>
