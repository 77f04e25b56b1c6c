/**
 * Pinned behaviour: a few short fixed-seed runs whose summaries (faults, rollbacks, repairs,
 * losses, accuracy, virtual waits) and decoded weights are recorded in `summaries.json`.
 * A refactor of the round must leave them as they are; a deliberate behaviour change
 * regenerates the file (`CODENET_PIN_UPDATE=1 npx vitest run training/pinned`) and says why in
 * its commit. `npm test` never writes it.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { trainingConfigFromFlags, type RawTrainingFlags } from '../config.ts'
import { simulate, type SimulateOptions } from '../simulate.ts'

interface Scenario {
  name: string
  flags: RawTrainingFlags
  extra?: Omit<SimulateOptions, 'config'>
}

const base: RawTrainingFlags = { dataset: 'synthetic', model: '16-12-8-4', batch: '8', peers: '6', steps: '40', 'checkpoint-every': '10', lr: '0.1' }

export const SCENARIOS: Scenario[] = [
  { name: 'clean codenet', flags: { seed: '3' } },
  { name: 'soft errors 0.02 gaussian', flags: { seed: '4', 'error-rate': '0.02' } },
  { name: 'soft errors 0.03 bitflip, momentum', flags: { seed: '5', 'error-rate': '0.03', 'error-kind': 'bitflip', momentum: '0.9' } },
  { name: 'lossy network + stragglers', flags: { seed: '6', 'error-rate': '0.01' }, extra: { network: { dropRate: 0.05, corruptRate: 0.02, reorderRate: 0.2, delayRate: 0.05, delayMs: 4, stragglers: { 4: 3 } } } },
  { name: 'adversarial, 8 peers', flags: { seed: '7', peers: '8', 'error-rate': '0.02', 'error-model': 'adversarial' } },
  { name: 'corrupted shard repaired', flags: { seed: '8' }, extra: { faultSchedule: [{ peer: 2, step: 5, site: 'update', layer: 0 }] } },
  { name: 'replication', flags: { seed: '9', strategy: 'replication', 'error-rate': '0.02' } },
  { name: 'uncoded', flags: { seed: '10', strategy: 'uncoded', 'error-rate': '0.01' } }
]

const FILE = new URL('./summaries.json', import.meta.url)

async function pin (s: Scenario): Promise<Record<string, unknown>> {
  const r = await simulate({ config: trainingConfigFromFlags({ ...base, ...s.flags }), ...s.extra })
  const { wallSeconds, timing, ...rest } = r.summary
  let sum = 0; let sq = 0
  for (const l of r.model.layers) {
    for (const w of l.w.data) { sum += w; sq += w * w }
    for (const b of l.b) { sum += b; sq += b * b }
  }
  return { ...rest, waitS: timing.waitS, weights: { sum, sq } }
}

/** Numbers equal to 1e-9 relative (a reordered sum may move the last bits), everything else exactly. */
function close (actual: unknown, expected: unknown, path: string): string[] {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isNaN(expected) && Number.isNaN(actual)) return []
    const ok = Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected))
    return ok ? [] : [`${path}: ${actual} != ${expected}`]
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return [`${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`]
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)])
    return [...keys].flatMap(k => close((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`))
  }
  return actual === expected ? [] : [`${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`]
}

describe('pinned summaries of short fixed-seed runs', () => {
  if (process.env.CODENET_PIN_UPDATE === '1') {
    it('regenerates summaries.json', async () => {
      const out: Record<string, unknown> = {}
      for (const s of SCENARIOS) out[s.name] = await pin(s)
      writeFileSync(FILE, JSON.stringify(out, (_k, v: unknown) => typeof v === 'number' && !Number.isFinite(v) ? String(v) : v, 2) + '\n')
    })
    return
  }
  const pinned = JSON.parse(readFileSync(FILE, 'utf8'), (_k, v: unknown) => v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v) as Record<string, unknown>
  it.each(SCENARIOS.map(s => [s.name, s] as const))('%s', async (_name, s) => {
    expect(pinned[s.name], 'scenario missing from summaries.json').toBeDefined()
    expect(close(await pin(s), pinned[s.name], s.name)).toEqual([])
  })
})
