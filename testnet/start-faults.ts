/**
 * Soft errors every peer of a testnet arms at its own start (`codenet peer --fault-…` flags),
 * rather than receiving them as a command sent by timing, which can be missed.
 */
import { COMMAND_DEFAULTS } from '../node/fault-controller.ts'
import { RANDOM_FAULT_SITES } from '../training/soft-errors.ts'
import type { HistoryEntry } from './fault-history.ts'

/** A history entry every peer arms from its start: soft errors for all peers from step 0. */
export function armedAtStart (e: HistoryEntry): boolean {
  return e.kind === 'soft-error' && e.target === 'all' && e.step === 0 && e.sinceStartMs === 0 && (e.params.site ?? 'matmul') !== 'verdict'
}

/** The `codenet peer` flags that arm an entry's soft errors at the peer's start. */
export function armFlags (e: HistoryEntry): string[] {
  const p = e.params
  return [
    '--fault-rate', String(p.rate ?? COMMAND_DEFAULTS.rate),
    '--fault-kind', String(p.errorKind ?? COMMAND_DEFAULTS.errorKind),
    '--fault-magnitude', String(p.magnitude ?? COMMAND_DEFAULTS.magnitude),
    ...((p.site ?? COMMAND_DEFAULTS.site) === 'any' ? RANDOM_FAULT_SITES : [String(p.site ?? COMMAND_DEFAULTS.site)]).flatMap(s => ['--fault-site', s])
  ]
}
