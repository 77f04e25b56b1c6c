import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { differences, explicitFlags, ProgressWatch } from './testnet-run.ts'

describe('the benchmarks\' testnet runs train the job this process resolved', () => {
  it('explicitFlags spells out the config, so other defaults in the child change nothing', () => {
    const config = trainingConfigFromFlags({ peers: '4', steps: '30', 'error-rate': '0', lr: '0.05' })
    const flags = explicitFlags(config, { peers: '4', steps: '30', 'error-rate': '0', lr: '0.05' })
    expect(flags.model).toBe(config.model.join('-'))
    // Parsed against different defaults, the flags still give the same config.
    const otherDefaults = { ...DEFAULT_CONFIG, model: [784, 32, 10], batch: 7, momentum: 0.1, seed: 9, lrSchedule: 'constant' as const }
    expect(differences(config, trainingConfigFromFlags(flags as RawTrainingFlags, otherDefaults))).toEqual([])
  })

  it('differences names the fields that differ', () => {
    const a = trainingConfigFromFlags({ steps: '10' })
    expect(differences(a, { ...a, batch: a.batch + 1, model: [784, 10] })).toEqual([
      `model [784,10] (expected ${JSON.stringify(a.model)})`, `batch ${a.batch + 1} (expected ${a.batch})`
    ])
  })
})

describe('a run that makes no progress is stopped', () => {
  it('counts only a new furthest step as progress: replays below it do not, and joining restarts the clock', () => {
    const w = new ProgressWatch(10_000, 0)
    expect(w.observe('joining', null, 50_000)).toBeNull()
    expect(w.observe('training', 400, 51_000)).toBeNull()
    // Rolled back to 350 and replaying to 400 again, never beyond.
    expect(w.observe('training', 350, 55_000)).toBeNull()
    expect(w.observe('training', 400, 60_000)).toBeNull()
    expect(w.observe('training', 399, 61_001)).toBe(400)
    // Passing it starts the clock again.
    expect(w.observe('training', 401, 62_000)).toBeNull()
    expect(w.observe('training', 401, 71_000)).toBeNull()
    expect(w.observe('finishing', 401, 80_000)).toBeNull()
    expect(w.observe('training', 401, 85_000)).toBeNull()
    expect(w.observe('training', 401, 95_001)).toBe(401)
  })
})
