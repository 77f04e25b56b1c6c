import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { differences, explicitFlags } from './testnet-run.ts'

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
