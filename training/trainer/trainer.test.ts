import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { trainingConfigFromFlags, type RawTrainingFlags, type TrainingConfig } from '../config.ts'
import { createMemoryNetwork } from '../memory-exchange.ts'
import { createPeerTrainer, type PeerTrainer } from './index.ts'
import { syntheticDataset } from '../synthetic.ts'
import { createReferenceTrainer } from '../reference.ts'
import type { Model } from '../model.ts'
import { deserializeCheckpoint, serializeCheckpoint } from '../checkpoint.ts'

function relErr (a: Model, b: Model): number {
  let num = 0; let den = 0
  a.layers.forEach((l, i) => {
    const o = b.layers[i]
    expect([l.w.rows, l.w.cols]).toEqual([o.w.rows, o.w.cols])
    for (let k = 0; k < l.w.data.length; k++) { num += (l.w.data[k] - o.w.data[k]) ** 2; den += o.w.data[k] ** 2 }
    for (let k = 0; k < l.b.length; k++) { num += (l.b[k] - o.b[k]) ** 2; den += o.b[k] ** 2 }
  })
  return Math.sqrt(num / den)
}

async function train (config: TrainingConfig, steps: number): Promise<{ model: Model, trainers: PeerTrainer[] }> {
  const dataset = syntheticDataset({ inputSize: config.model[0], classes: config.model[config.model.length - 1], seed: config.seed, train: 64, test: 16 })
  const net = createMemoryNetwork({ peers: config.peers, seed: config.seed })
  const trainers = Array.from({ length: config.peers }, (_, p) => createPeerTrainer({ config, self: p, exchange: net.exchange(p), dataset }))
  for (let s = 0; s < steps; s++) {
    const r = await Promise.all(trainers.map(t => t.step()))
    expect(r.every(x => x.outcome === 'ok')).toBe(true)
  }
  const models = await Promise.all(trainers.map(t => t.decodedWeights()))
  for (const m of models.slice(1)) expect(relErr(m, models[0])).toBeLessThan(1e-12)
  return { model: models[0], trainers }
}

function reference (config: TrainingConfig, steps: number): Model {
  const dataset = syntheticDataset({ inputSize: config.model[0], classes: config.model[config.model.length - 1], seed: config.seed, train: 64, test: 16 })
  const r = createReferenceTrainer(config, dataset)
  for (let s = 0; s < steps; s++) r.step(s)
  return r.model
}

const cfg = (f: RawTrainingFlags): TrainingConfig => trainingConfigFromFlags({ dataset: 'synthetic', steps: '20', ...f })

describe('coded step = uncoded step', () => {
  it('for random layer shapes, codes, activations and batch sizes (B = 1 and B > 1)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 2, max: 13 }), { minLength: 2, maxLength: 4 }),
      fc.constantFrom(1, 3, 8),
      fc.constantFrom('polydot:m=2,n=1', 'polydot:m=2,n=2', 'polydot:m=3,n=1', 'polydot:m=1,n=2'),
      fc.constantFrom('relu', 'tanh', 'sigmoid'),
      fc.constantFrom('0', '0.9'),
      async (widths, batch, code, activation, momentum) => {
        const config = cfg({ model: widths.join('-'), batch: String(batch), code, activation, momentum, peers: code === 'polydot:m=2,n=2' ? '8' : '6', lr: '0.1', steps: '3' })
        const coded = await train(config, 3)
        expect(relErr(coded.model, reference(config, 3))).toBeLessThan(1e-9)
      }
    ), { numRuns: 12, seed: 7 })
  })
})

describe('strategies agree at error rate 0', () => {
  it('codenet, replication and uncoded end with the same weights', async () => {
    const base = { model: '12-10-6-3', batch: '4', peers: '6', steps: '8', seed: '3' }
    const a = await train(cfg({ ...base, strategy: 'codenet' }), 8)
    const b = await train(cfg({ ...base, strategy: 'replication', replicas: '3' }), 8)
    const c = await train(cfg({ ...base, strategy: 'uncoded' }), 8)
    expect(relErr(a.model, c.model)).toBeLessThan(1e-10)
    expect(relErr(b.model, c.model)).toBeLessThan(1e-10)
    expect(relErr(c.model, reference(cfg({ ...base, strategy: 'uncoded' }), 8))).toBeLessThan(1e-12)
  })
})

describe('checkpoints', () => {
  it('a restored peer network resumes exactly where it left off', async () => {
    const config = cfg({ model: '10-8-4', batch: '4', peers: '5', steps: '6', seed: '9' })
    const full = await train(config, 6)
    const first = await train(config, 3)
    const saved = first.trainers.map(t => serializeCheckpoint(t.checkpoint()))
    const dataset = syntheticDataset({ inputSize: 10, classes: 4, seed: 9, train: 64, test: 16 })
    const net = createMemoryNetwork({ peers: 5, seed: 9 })
    const resumed = Array.from({ length: 5 }, (_, p) => createPeerTrainer({ config, self: p, exchange: net.exchange(p), dataset }))
    resumed.forEach((t, p) => t.restore(deserializeCheckpoint(saved[p])))
    expect(resumed[0].currentStep).toBe(3)
    for (let s = 0; s < 3; s++) await Promise.all(resumed.map(t => t.step()))
    const models = await Promise.all(resumed.map(t => t.decodedWeights()))
    expect(relErr(models[0], full.model)).toBeLessThan(1e-12)
  })

  it('refuses a checkpoint of another peer or another job', async () => {
    const config = cfg({ model: '10-8-4', batch: '4', peers: '5' })
    const { trainers } = await train(config, 1)
    expect(() => trainers[1].restore(trainers[0].checkpoint())).toThrow(/peer 0/)
    const other = await train(cfg({ model: '10-8-4', batch: '4', peers: '5', seed: '2' }), 1)
    expect(() => trainers[0].restore(other.trainers[0].checkpoint())).toThrow(/job/)
  })
})

