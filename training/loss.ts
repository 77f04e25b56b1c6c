/**
 * Softmax + cross-entropy over a batch laid out as columns: logits are C × B (one
 * column per sample), matching W·X with X = N_in × B.
 */
import { type Matrix, zeros } from '../codes/matrix.ts'

export interface LossResult {
  /** Mean cross-entropy over the batch. */
  loss: number
  /** C × B softmax probabilities. */
  probs: Matrix
  /** ∂loss/∂logits = (probs − onehot) / B, C × B. */
  grad: Matrix
  /** Samples whose arg-max equals the label. */
  correct: number
}

/** Column-wise softmax, numerically stable (max subtracted). */
export function softmaxColumns (logits: Matrix, out: Matrix = zeros(logits.rows, logits.cols)): Matrix {
  const C = logits.rows; const B = logits.cols; const z = logits.data; const o = out.data
  for (let b = 0; b < B; b++) {
    let mx = -Infinity
    for (let c = 0; c < C; c++) mx = Math.max(mx, z[c * B + b])
    let sum = 0
    for (let c = 0; c < C; c++) { const e = Math.exp(z[c * B + b] - mx); o[c * B + b] = e; sum += e }
    for (let c = 0; c < C; c++) o[c * B + b] /= sum
  }
  return out
}

export function argmaxColumn (m: Matrix, b: number): number {
  let best = 0; let bv = -Infinity
  for (let c = 0; c < m.rows; c++) {
    const v = m.data[c * m.cols + b]
    if (v > bv) { bv = v; best = c }
  }
  return best
}

export function softmaxCrossEntropy (logits: Matrix, labels: ArrayLike<number>): LossResult {
  const C = logits.rows; const B = logits.cols
  if (labels.length !== B) throw new Error(`${labels.length} labels for a batch of ${B}`)
  const probs = softmaxColumns(logits)
  const grad = zeros(C, B)
  let loss = 0; let correct = 0
  for (let b = 0; b < B; b++) {
    const y = labels[b]
    // log-sum-exp form: exact even when the label's probability underflows.
    let mx = -Infinity
    for (let c = 0; c < C; c++) mx = Math.max(mx, logits.data[c * B + b])
    let se = 0
    for (let c = 0; c < C; c++) se += Math.exp(logits.data[c * B + b] - mx)
    loss += mx + Math.log(se) - logits.data[y * B + b]
    if (argmaxColumn(logits, b) === y) correct++
    for (let c = 0; c < C; c++) grad.data[c * B + b] = (probs.data[c * B + b] - (c === y ? 1 : 0)) / B
  }
  return { loss: loss / B, probs, grad, correct }
}
