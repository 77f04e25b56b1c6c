/**
 * "Unbounded gains in error tolerance" at fixed storage, measured in `simulate`: for P peers each
 * holding half of every layer — CodeNet's PolyDot m = 2, n = 1 and replication with r = P/2 —
 * how many wrong results per round does each correct?
 *
 * The wrong results come from byzantine peers (training/adversaries.ts): every product they
 * publish is offset by the same seeded pattern — coherent liars, the worst case for a vote.
 * For replication they sit in one block (peers 0, m, 2m, …: the copies of block 0), its worst
 * placement; PolyDot treats every peer alike. A count k is tolerated when the run commits every
 * step with no round refused (uncorrectable 0) and nothing accepted wrong (silent 0). The table
 * gives the largest k tolerated with every smaller k tolerated too, beside the theory
 * (scheme.correctable with all P results in), and what happened one beyond it: refused (the
 * round could not be decoded, and was rolled back — never silently wrong) or silent.
 */
import { createScheme } from '../../codes/index.ts'
import { type CodeScheme, worstCorrectable } from '../../codes/scheme.ts'
import { DEFAULT_CONFIG, type TrainingConfig } from '../../training/config.ts'
import type { ErrorModel } from '../../training/soft-errors.ts'

export interface ToleranceRow {
  peers: number
  strategy: 'codenet' | 'replication'
  code: string
  mode: ErrorModel
  theory: number
  measured: number
  /** What one more wrong result per round did; null when every count up to P was tolerated. */
  beyond: 'refused' | 'silent' | 'stalled' | null
}

export interface ToleranceOptions {
  peers?: readonly number[]
  modes?: readonly ErrorModel[]
  steps?: number
  seed?: number
}

export const TOLERANCE_PEERS = [6, 8, 10, 12] as const

function schemeOf (strategy: 'codenet' | 'replication', peers: number): CodeScheme {
  return strategy === 'codenet' ? createScheme({ kind: 'polydot', peers, m: 2, n: 1 }) : createScheme({ kind: 'replication', peers, replicas: peers / 2 })
}

/** The wrong peers of a count: the worst placement for the strategy. */
export function liarsOf (strategy: 'codenet' | 'replication', peers: number, k: number): number[] {
  if (strategy === 'codenet') return Array.from({ length: k }, (_, i) => i)
  const blocks = 2
  return Array.from({ length: k }, (_, i) => i * blocks).filter(p => p < peers)
}

export async function runToleranceTable (opts: ToleranceOptions = {}): Promise<ToleranceRow[]> {
  const { simulate } = await import('../../training/simulate.ts')
  const rows: ToleranceRow[] = []
  for (const peers of opts.peers ?? TOLERANCE_PEERS) {
    for (const strategy of ['codenet', 'replication'] as const) {
      for (const mode of opts.modes ?? (['adversarial', 'probabilistic'] as const)) {
        const scheme = schemeOf(strategy, peers)
        const theory = worstCorrectable(scheme, peers)[mode]
        const config: TrainingConfig = {
          ...DEFAULT_CONFIG,
          peers,
          strategy,
          code: strategy === 'codenet' ? { scheme: 'polydot', m: 2, n: 1 } : null,
          replicas: strategy === 'replication' ? peers / 2 : DEFAULT_CONFIG.replicas,
          dataset: 'synthetic',
          model: [32, 16, 4],
          batch: 16,
          lr: 0.2,
          epochs: null,
          steps: opts.steps ?? 8,
          seed: opts.seed ?? 3,
          errorRate: 0,
          errorModel: mode
        }
        let measured = -1
        let beyond: ToleranceRow['beyond'] = null
        const maxK = strategy === 'codenet' ? peers - 1 : peers / 2
        for (let k = 0; k <= maxK; k++) {
          const byzantinePeers = liarsOf(strategy, peers, k)
          let outcome: 'ok' | 'refused' | 'silent' | 'stalled'
          try {
            const r = await simulate({ config, byzantinePeers })
            const s = r.summary
            outcome = s.faults.silent > 0 ? 'silent' : s.stalled !== null ? 'stalled' : s.faults.uncorrectable > 0 ? 'refused' : 'ok'
            if (outcome === 'stalled' && s.faults.uncorrectable > 0) outcome = 'refused'
          } catch {
            outcome = 'stalled'
          }
          if (outcome === 'ok') { measured = k; continue }
          beyond = outcome
          break
        }
        rows.push({ peers, strategy, code: strategy === 'codenet' ? 'polydot m=2 n=1' : `replication r=${peers / 2}`, mode, theory, measured: Math.max(0, measured), beyond })
      }
    }
  }
  return rows
}

export function formatToleranceTable (rows: readonly ToleranceRow[]): string {
  return [
    '| P | strategy | code | storage per peer | decoding | wrong results per round: theory | measured | one more |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(r => `| ${r.peers} | ${r.strategy} | ${r.code} | 50 % | ${r.mode} | ${r.theory} | ${r.measured} | ${r.beyond ?? '–'} |`)
  ].join('\n')
}
