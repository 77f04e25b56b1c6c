import { CodeConfigError, ConditionBudgetError } from '../codes/errors.ts'
import { schemeForConfig } from './strategy.ts'
import { DEFAULT_SOFT_ERRORS, ERROR_KINDS, ERROR_MODELS, type ErrorKind, type ErrorModel } from './soft-errors.ts'

/**
 * The training options shared by `simulate`, `testnet` and `job init` (docs/design.md §Training options), their
 * defaults, and their validation. A bad value is a `ConfigError` with a message that names
 * the flag, never a crash later in training.
 */

export type Strategy = 'codenet' | 'replication' | 'uncoded'
export type Activation = 'relu' | 'sigmoid' | 'tanh'
/** The soft-error kinds and models are training/soft-errors.ts's (one list, one table of defaults). */
export type { ErrorKind, ErrorModel }
export type DatasetName = 'mnist' | 'synthetic'
/** How the learning rate moves over training: fixed, or cosine from --lr down to 0. */
export type LrSchedule = 'constant' | 'cosine'

export interface CodeChoice {
  scheme: 'polydot'
  m: number
  n: number
}

export interface TrainingConfig {
  peers: number
  strategy: Strategy
  /** null: chosen from the number of peers. */
  code: CodeChoice | null
  replicas: number
  /** Layer widths, input first: [784, 128, 64, 10]. */
  model: number[]
  activation: Activation
  batch: number
  /** Exactly one of epochs / steps is set after validation. */
  epochs: number | null
  steps: number | null
  lr: number
  momentum: number
  seed: number
  dataset: DatasetName
  errorRate: number
  errorKind: ErrorKind
  errorMagnitude: number
  errorModel: ErrorModel
  checkpointEvery: number
  /** How the learning rate moves (job files must name it: a job file lacking it is refused). */
  lrSchedule: LrSchedule
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export const DEFAULT_CONFIG: Readonly<TrainingConfig> = Object.freeze({
  peers: 6,
  strategy: 'codenet',
  code: null,
  replicas: 3,
  model: [784, 128, 64, 10],
  activation: 'relu',
  batch: 16,
  epochs: 3,
  steps: null,
  // Tuned on the MNIST split (784-128-64-10, batch 16, 3 epochs, cosine): see docs/simulate.md.
  lr: 0.1,
  momentum: 0.7,
  seed: 1,
  dataset: 'mnist',
  errorRate: DEFAULT_SOFT_ERRORS.rate,
  errorKind: DEFAULT_SOFT_ERRORS.kind,
  errorMagnitude: DEFAULT_SOFT_ERRORS.magnitude,
  errorModel: DEFAULT_SOFT_ERRORS.model,
  checkpointEvery: 50,
  lrSchedule: 'cosine'
})

/** Raw flag values as parsed from argv (strings), keyed by the long flag name without dashes. */
export type RawTrainingFlags = Partial<Record<
'peers' | 'strategy' | 'code' | 'replicas' | 'model' | 'activation' | 'batch' | 'epochs' | 'steps' |
'lr' | 'momentum' | 'seed' | 'dataset' | 'error-rate' | 'error-kind' | 'error-magnitude' | 'error-model' |
'checkpoint-every' | 'lr-schedule', string>>

export const TRAINING_FLAG_NAMES = [
  'peers', 'strategy', 'code', 'replicas', 'model', 'activation', 'batch', 'epochs', 'steps',
  'lr', 'momentum', 'seed', 'dataset', 'error-rate', 'error-kind', 'error-magnitude', 'error-model',
  'checkpoint-every', 'lr-schedule'
] as const

function int (flag: string, v: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(v.trim())) throw new ConfigError(`--${flag} must be a whole number, got '${v}'`)
  const n = Number(v)
  if (n < min || n > max) throw new ConfigError(`--${flag} must be between ${min} and ${max}, got ${n}`)
  return n
}

function real (flag: string, v: string, min: number, max: number): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${flag} must be a number, got '${v}'`)
  if (n < min || n > max) throw new ConfigError(`--${flag} must be between ${min} and ${max}, got ${n}`)
  return n
}

function oneOf<T extends string> (flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`--${flag} must be one of ${allowed.join('|')}, got '${v}'`)
  }
  return v as T
}

export function parseCode (v: string): CodeChoice {
  const m = /^polydot:m=(\d+),n=(\d+)$/.exec(v.trim())
  if (m === null) throw new ConfigError(`--code must look like polydot:m=M,n=N, got '${v}'`)
  const mm = Number(m[1]); const nn = Number(m[2])
  if (mm < 1 || nn < 1 || mm > 64 || nn > 64) throw new ConfigError(`--code: m and n must be between 1 and 64, got m=${mm}, n=${nn}`)
  return { scheme: 'polydot', m: mm, n: nn }
}

export function parseModel (v: string): number[] {
  const parts = v.split('-')
  if (parts.length < 2) throw new ConfigError(`--model must list at least two layer widths like 784-128-10, got '${v}'`)
  return parts.map((p, i) => int(`model (width ${i + 1})`, p, 1, 1 << 16))
}

/** Apply flags on top of a base config and validate the result as a whole. */
export function trainingConfigFromFlags (flags: RawTrainingFlags, base: Readonly<TrainingConfig> = DEFAULT_CONFIG): TrainingConfig {
  const c: TrainingConfig = { ...base, model: [...base.model], code: base.code === null ? null : { ...base.code } }
  const f = flags
  if (f.peers !== undefined) c.peers = int('peers', f.peers, 1, 256)
  if (f.strategy !== undefined) c.strategy = oneOf('strategy', f.strategy, ['codenet', 'replication', 'uncoded'] as const)
  if (f.code !== undefined) c.code = parseCode(f.code)
  if (f.replicas !== undefined) c.replicas = int('replicas', f.replicas, 1, 64)
  if (f.model !== undefined) c.model = parseModel(f.model)
  if (f.activation !== undefined) c.activation = oneOf('activation', f.activation, ['relu', 'sigmoid', 'tanh'] as const)
  if (f.batch !== undefined) c.batch = int('batch', f.batch, 1, 65536)
  if (f.epochs !== undefined && f.steps !== undefined) throw new ConfigError('give --epochs or --steps, not both')
  if (f.epochs !== undefined) { c.epochs = real('epochs', f.epochs, 0.001, 1e6); c.steps = null }
  if (f.steps !== undefined) { c.steps = int('steps', f.steps, 1, 1e9); c.epochs = null }
  if (f.lr !== undefined) c.lr = real('lr', f.lr, 1e-9, 100)
  if (f.momentum !== undefined) c.momentum = real('momentum', f.momentum, 0, 0.999)
  if (f.seed !== undefined) c.seed = int('seed', f.seed, 0, 2 ** 31 - 1)
  if (f.dataset !== undefined) c.dataset = oneOf('dataset', f.dataset, ['mnist', 'synthetic'] as const)
  if (f['error-rate'] !== undefined) c.errorRate = real('error-rate', f['error-rate'], 0, 1)
  if (f['error-kind'] !== undefined) c.errorKind = oneOf('error-kind', f['error-kind'], ERROR_KINDS)
  if (f['error-magnitude'] !== undefined) c.errorMagnitude = real('error-magnitude', f['error-magnitude'], 0, 1e12)
  if (f['error-model'] !== undefined) c.errorModel = oneOf('error-model', f['error-model'], ERROR_MODELS)
  if (f['checkpoint-every'] !== undefined) c.checkpointEvery = int('checkpoint-every', f['checkpoint-every'], 1, 1e9)
  if (f['lr-schedule'] !== undefined) c.lrSchedule = oneOf('lr-schedule', f['lr-schedule'], ['constant', 'cosine'] as const)
  validateTrainingConfig(c)
  return c
}

/** Cross-field checks (also applied to job files read from disk). */
export function validateTrainingConfig (c: TrainingConfig): void {
  if (c.dataset === 'mnist' && c.model[0] !== 784) {
    throw new ConfigError(`--dataset mnist needs a model whose input width is 784, got ${c.model[0]}`)
  }
  if (c.dataset === 'mnist' && c.model[c.model.length - 1] !== 10) {
    throw new ConfigError(`--dataset mnist needs a model with 10 outputs, got ${c.model[c.model.length - 1]}`)
  }
  if (c.strategy === 'replication' && c.peers % c.replicas !== 0) {
    throw new ConfigError(`--strategy replication needs --peers to be a multiple of --replicas (${c.peers} peers, ${c.replicas} replicas)`)
  }
  if (c.strategy === 'codenet' && c.code !== null && c.code.m * c.code.n > c.peers) {
    throw new ConfigError(`--code ${c.code.scheme}:m=${c.code.m},n=${c.code.n} needs at least m·n = ${c.code.m * c.code.n} peers, got ${c.peers}`)
  }
  if ((c.epochs === null) === (c.steps === null)) throw new ConfigError('exactly one of --epochs and --steps must be set')
  // The code itself is the judge of what it can do (thresholds vs peers, condition budget):
  // a job that no peer could run is refused here, not by a crash once the peers have joined.
  try {
    schemeForConfig(c)
  } catch (err) {
    if (err instanceof CodeConfigError || err instanceof ConditionBudgetError) {
      throw new ConfigError(`${c.strategy === 'codenet' ? '--code/--peers' : '--strategy/--peers'}: ${err.message}`)
    }
    throw err
  }
}
