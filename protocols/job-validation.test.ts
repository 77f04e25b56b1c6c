/**
 * Hostile job files: every field is range-checked through the same rules as the flags
 * (training/config.ts TRAINING_RULES), not only type-checked, and a bad one is a JobError line
 * before any peer starts — never NaN training, a crash, or minutes of CPU.
 */
import { describe, expect, it } from 'vitest'
import { createJobSpec, parseJobSpec, JobError } from './job.ts'
import { ConfigError, LIMITS, TRAINING_RULES, flagOf, trainingConfigFromFlags, type RawTrainingFlags } from '../training/config.ts'

const base = createJobSpec(trainingConfigFromFlags({ peers: '4', dataset: 'synthetic', model: '8-4', steps: '5' }))
const withConfig = (patch: Record<string, unknown>): string => JSON.stringify({ ...base, config: { ...base.config, ...patch } })

function refusal (text: string): string {
  try { parseJobSpec(text) } catch (err) {
    expect(err).toBeInstanceOf(JobError)
    return (err as Error).message
  }
  throw new Error('accepted')
}

describe('job files are range-checked, not only type-checked', () => {
  it.each([
    [{ batch: 0 }, /--batch must be between 1 and 65536, got 0/],
    [{ batch: -5 }, /--batch must be between 1/],
    [{ batch: 1e9 }, /--batch must be between 1 and 65536/],
    [{ batch: 2.5 }, /--batch must be a whole number/],
    [{ steps: 0 }, /--steps must be between 1/],
    [{ steps: -1 }, /--steps must be between 1/],
    [{ steps: null, epochs: 0 }, /--epochs must be between 0.001/],
    [{ steps: null, epochs: null }, /exactly one of --epochs and --steps/],
    [{ lr: -1 }, /--lr must be between/],
    [{ momentum: 5 }, /--momentum must be between 0 and 0.999/],
    [{ checkpointEvery: 0 }, /--checkpoint-every must be between 1/],
    [{ dataset: 'imagenet' }, /--dataset must be one of/],
    [{ errorKind: 'cosmic-ray' }, /--error-kind must be one of/],
    [{ errorModel: 'foo' }, /--error-model must be one of/],
    [{ strategy: 'foo' }, /--strategy must be one of codenet\|replication\|uncoded, got 'foo'/],
    [{ activation: 'foo' }, /--activation must be one of relu\|sigmoid\|tanh/],
    [{ lrSchedule: 'linear' }, /--lr-schedule must be one of/],
    [{ errorRate: 2 }, /--error-rate must be between 0 and 1/],
    [{ errorMagnitude: -1 }, /--error-magnitude must be between 0/],
    [{ seed: -1 }, /--seed must be between 0/],
    [{ replicas: 0 }, /--replicas must be between 1/],
    [{ model: [] }, /--model must list 2 to 32 layer widths/],
    [{ model: [8] }, /--model must list 2 to 32/],
    [{ model: [64, 1e9, 10] }, /width 2 must be a whole number between 1 and 65536/],
    [{ model: [8, 4.5] }, /width 2 must be a whole number/],
    [{ model: [8, '4'] }, /width 2 must be a whole number/],
    [{ model: [8, 1] }, /number of classes, 2 to 256/],
    [{ model: [8, 1000] }, /number of classes, 2 to 256/],
    [{ model: [64, 65536, 65536, 10] }, /weights, more than the cap of 16777216/],
    [{ model: '8-4' }, /--model must be an array/],
    [{ peers: 1000 }, /--peers must be between 1 and 64, got 1000/],
    [{ peers: 1e9 }, /--peers must be between 1 and 64/],
    [{ peers: 0 }, /--peers must be between 1 and 64/],
    [{ peers: '4' }, /--peers must be a whole number, got '4'/],
    [{ code: { scheme: 'polydot', m: 0, n: 1 } }, /m and n must be whole numbers between 1 and 64/],
    [{ code: { scheme: 'polydot', m: 1e9, n: 1 } }, /m and n must be whole numbers between 1 and 64/],
    [{ code: { scheme: 'rs', m: 1, n: 1 } }, /--code must be null or/],
    [{ code: { scheme: 'polydot', m: 1, n: 1, extra: 1 } }, /--code must be null or/],
    [{ batch: 4096, model: [2048, 2048, 10] }, /activations per step, more than the cap/],
    [{ peers: 64, strategy: 'uncoded', batch: 1024, model: [4096, 2] }, /floats of results in one round, more than the cap/]
  ])('refuses %o', (patch, re) => {
    const t0 = Date.now()
    const msg = refusal(withConfig(patch))
    expect(msg).toMatch(/^job config is invalid: /)
    expect(msg).toMatch(re)
    expect(msg).not.toMatch(/\n/)
    // Refused by its range, before the (slow for many peers) code check: 1,000 peers used to spin for minutes.
    expect(Date.now() - t0).toBeLessThan(5_000)
  })

  it('accepts the values at the edges of every range', () => {
    const edges: Array<Record<string, unknown>> = [
      { peers: 64, strategy: 'uncoded' }, { peers: 1, strategy: 'uncoded' }, { batch: 1 }, { steps: 1 }, { steps: null, epochs: 0.001 },
      { momentum: 0 }, { momentum: 0.999 }, { checkpointEvery: 1 }, { errorRate: 1 }, { model: [8, 256] }, { model: [8, 2] }
    ]
    for (const patch of edges) expect(parseJobSpec(withConfig(patch)).config).toMatchObject(patch)
  })

  it('a flag and a job field out of range give the same message: one table of rules', () => {
    for (const [field, rule] of Object.entries(TRAINING_RULES)) {
      const bad: unknown[] = rule.kind === 'enum' ? ['no-such-value'] : [rule.min - 1, rule.max * 2]
      for (const v of bad) {
        const flags: RawTrainingFlags = { dataset: 'synthetic', model: '8-4', ...(field === 'epochs' ? {} : { steps: '5' }), [flagOf(field)]: String(v) }
        let flagMessage = ''
        try { trainingConfigFromFlags(flags) } catch (err) { expect(err).toBeInstanceOf(ConfigError); flagMessage = (err as Error).message }
        expect(flagMessage, `${field} = ${String(v)} through the flag`).not.toBe('')
        const patch = field === 'epochs' ? { epochs: v, steps: null } : { [field]: v }
        expect(refusal(withConfig(patch))).toBe(`job config is invalid: ${flagMessage}`)
      }
    }
  })

  it('job init refuses what the job file refuses: --model 64-65536-65536-10, 1,000 peers', () => {
    expect(() => trainingConfigFromFlags({ model: '64-65536-65536-10', dataset: 'synthetic' })).toThrow(/more than the cap of 16777216/)
    expect(() => trainingConfigFromFlags({ peers: '1000' })).toThrow(/--peers must be between 1 and 64/)
    expect(() => createJobSpec({ ...base.config, batch: 0 })).toThrow(/--batch must be between 1/)
    expect(LIMITS.parameters).toBe(2 ** 24)
  })
})
