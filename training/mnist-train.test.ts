import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { trainingConfigFromFlags } from './config.ts'
import { simulate } from './simulate.ts'
import { evaluateWeightsFile, exportWeights } from './evaluate.ts'
import { loadMnist } from './mnist.ts'

// The full `codenet simulate` (≥ 95 %) takes minutes; this is a short form on the real digits
// with the default code, and the smaller model and batch of the previous recipe (a quarter of
// the work per step: the suite runs on busy 2-core machines).
const SHORT = { model: '784-128-64-10', batch: '16', lr: '0.1' }
describe('coded training on MNIST (short run)', () => {
  it('100 coded steps reach > 80 % and the exported weights give the same accuracy', async () => {
    const r = await simulate({ config: trainingConfigFromFlags({ ...SHORT, steps: '100' }) })
    expect(r.summary.testAccuracy).toBeGreaterThan(0.8)
    expect(r.summary.faults.silent).toBe(0)
    const file = join(mkdtempSync(join(tmpdir(), 'codenet-w-')), 'weights.json')
    writeFileSync(file, JSON.stringify(exportWeights(r.model)))
    const e = evaluateWeightsFile(file, loadMnist())
    expect(e.accuracy).toBe(r.summary.testAccuracy)
    expect(e.model.layers[0].w.cols).toBe(784)
  })

  it('at error rate 0.01 (bitflip) coded training loses nothing and accepts nothing wrong', async () => {
    const clean = await simulate({ config: trainingConfigFromFlags({ ...SHORT, steps: '30' }) })
    const r = await simulate({ config: trainingConfigFromFlags({ ...SHORT, steps: '30', 'error-rate': '0.01', 'error-kind': 'bitflip' }) })
    expect(r.summary.faults.injected).toBeGreaterThan(5)
    expect(r.summary.faults.silent).toBe(0)
    expect(Math.abs(r.summary.testAccuracy - clean.summary.testAccuracy)).toBeLessThan(0.01)
  })
})
