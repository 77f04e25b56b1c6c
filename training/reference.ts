/**
 * Plain, uncoded, single-process SGD with exactly the update rule of the coded trainer
 * (same initialisation, batch order, loss, momentum): the reference the coded step is
 * tested against, and a quick way to tune hyper-parameters without simulating peers.
 */
import { gemm } from '../codes/gemm/index.ts'
import { type Matrix, zeros } from '../codes/matrix.ts'
import type { TrainingConfig } from './config.ts'
import type { Dataset } from './dataset.ts'
import { batchOf } from './dataset.ts'
import { activationRule } from './activations.ts'
import { softmaxCrossEntropy } from './loss.ts'
import { addBias, initModel, type Model } from './model.ts'
import { BatchOrder } from './batches.ts'
import { learningRate, totalStepsOf } from './schedule.ts'

/** The exact products of one step: W_l·A_l (forward, without bias) and W_lᵀ·Δ_l (backward, l ≥ 1). */
export interface StepProducts {
  forward: Matrix[]
  backward: Matrix[]
}

/** Everything the trajectory depends on: weights, biases and their momentum. */
export interface ReferenceState {
  w: Matrix[]
  b: Float64Array[]
  vw: Matrix[]
  vb: Float64Array[]
}

export interface ReferenceTrainer {
  model: Model
  /** One SGD step on the batch of global step `step`; returns the batch loss. */
  step (step: number, products?: StepProducts): number
  /** A deep copy of the state (weights, biases, momentum). */
  snapshot (): ReferenceState
  /** Back to a snapshot. */
  restore (s: ReferenceState): void
  /** The live state (read only). */
  state (): ReferenceState
}

export function createReferenceTrainer (config: TrainingConfig, dataset: Dataset): ReferenceTrainer {
  const model = initModel(config.model, config.activation, config.seed)
  const act = activationRule(config.activation)
  const order = new BatchOrder(config.seed, dataset.train.count, config.batch)
  const L = model.layers.length
  const totalSteps = totalStepsOf(config, order.stepsPerEpoch)
  const vw = model.layers.map(l => zeros(l.w.rows, l.w.cols))
  const vb = model.layers.map(l => new Float64Array(l.b.length))
  return {
    model,
    snapshot: () => ({
      w: model.layers.map(l => ({ rows: l.w.rows, cols: l.w.cols, data: l.w.data.slice() })),
      b: model.layers.map(l => l.b.slice()),
      vw: vw.map(v => ({ rows: v.rows, cols: v.cols, data: v.data.slice() })),
      vb: vb.map(v => v.slice())
    }),
    restore (s) {
      model.layers.forEach((l, i) => { l.w.data.set(s.w[i].data); l.b.set(s.b[i]); vw[i].data.set(s.vw[i].data); vb[i].set(s.vb[i]) })
    },
    state: () => ({ w: model.layers.map(l => l.w), b: model.layers.map(l => l.b), vw, vb }),
    step (step, products) {
      const { x, labels } = batchOf(dataset.train, dataset.inputSize, order.indices(step))
      const A: Matrix[] = [x]; const S: Matrix[] = []
      for (let l = 0; l < L; l++) {
        const prod = gemm(model.layers[l].w, A[l])
        if (products !== undefined) products.forward[l] = { rows: prod.rows, cols: prod.cols, data: prod.data.slice() }
        const s = addBias(prod, model.layers[l].b)
        S.push(s)
        if (l < L - 1) { const a = zeros(s.rows, s.cols); act.f(s.data, a.data); A.push(a) }
      }
      const r = softmaxCrossEntropy(S[L - 1], labels)
      const D: Matrix[] = new Array(L)
      D[L - 1] = r.grad
      for (let l = L - 1; l >= 1; l--) {
        const g = gemm(model.layers[l].w, D[l], undefined, { transA: true })
        if (products !== undefined) products.backward[l] = { rows: g.rows, cols: g.cols, data: g.data.slice() }
        const fp = zeros(g.rows, g.cols)
        act.df(S[l - 1].data, fp.data)
        for (let i = 0; i < fp.data.length; i++) fp.data[i] *= g.data[i]
        D[l - 1] = fp
      }
      const lr = learningRate(config, step, totalSteps)
      for (let l = 0; l < L; l++) {
        const grad = gemm(D[l], A[l], undefined, { transB: true })
        const w = model.layers[l].w.data; const b = model.layers[l].b; const d = D[l]
        for (let i = 0; i < w.length; i++) {
          if (config.momentum > 0) { vw[l].data[i] = config.momentum * vw[l].data[i] + grad.data[i]; w[i] -= lr * vw[l].data[i] } else w[i] -= lr * grad.data[i]
        }
        for (let rr = 0; rr < d.rows; rr++) {
          let s = 0
          for (let c = 0; c < d.cols; c++) s += d.data[rr * d.cols + c]
          if (config.momentum > 0) { vb[l][rr] = config.momentum * vb[l][rr] + s; b[rr] -= lr * vb[l][rr] } else b[rr] -= lr * s
        }
      }
      return r.loss
    }
  }
}
