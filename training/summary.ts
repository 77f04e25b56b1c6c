/**
 * The summary JSON of docs/design.md §Summary JSON (`--json` of simulate, peer and testnet): the fields every run
 * reports. `Silent` is a count where the run holds the ground truth (simulate) and null where it
 * cannot know (a real peer).
 */
import type { codeSummary } from './strategy.ts'

export interface RunSummary<Silent extends number | null = number> {
  strategy: string
  peers: number
  code: ReturnType<typeof codeSummary>
  steps: number
  epochs: number
  wallSeconds: number
  testAccuracy: number
  trainLoss: number
  faults: { injected: number, detected: number, corrected: number, uncorrectable: number, silent: Silent }
  rollbacks: number
  repairs: number
  timing: { computeS: number, encodeS: number, decodeS: number, waitS: number, stepMs: { median: number, p95: number } }
  bytesSent: number
}
