/**
 * The one table of activation rules: name → { f, df }. `df` is the derivative expressed
 * in the pre-activation s (what backprop multiplies the incoming gradient with).
 * Both write into `out` (which may alias `s`) so the hot path allocates nothing.
 */
import type { Activation } from './config.ts'

export interface ActivationRule {
  f (s: Float64Array, out: Float64Array): Float64Array
  df (s: Float64Array, out: Float64Array): Float64Array
}

const sigmoid1 = (x: number): number => x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))

export const ACTIVATIONS: Readonly<Record<Activation, ActivationRule>> = Object.freeze({
  relu: {
    f: (s, out) => { for (let i = 0; i < s.length; i++) out[i] = s[i] > 0 ? s[i] : 0; return out },
    df: (s, out) => { for (let i = 0; i < s.length; i++) out[i] = s[i] > 0 ? 1 : 0; return out }
  },
  sigmoid: {
    f: (s, out) => { for (let i = 0; i < s.length; i++) out[i] = sigmoid1(s[i]); return out },
    df: (s, out) => { for (let i = 0; i < s.length; i++) { const y = sigmoid1(s[i]); out[i] = y * (1 - y) } return out }
  },
  tanh: {
    f: (s, out) => { for (let i = 0; i < s.length; i++) out[i] = Math.tanh(s[i]); return out },
    df: (s, out) => { for (let i = 0; i < s.length; i++) { const y = Math.tanh(s[i]); out[i] = 1 - y * y } return out }
  }
})

export function activationRule (name: Activation): ActivationRule {
  const r = ACTIVATIONS[name]
  if (r === undefined) throw new Error(`unknown activation '${String(name)}'`)
  return r
}
