import { CodeConfigError, ConditionBudgetError } from '../codes/errors.ts'
import { schemeForConfig } from './strategy.ts'
import { DEFAULT_SOFT_ERRORS, ERROR_KINDS, ERROR_MODELS, type ErrorKind, type ErrorModel } from './soft-errors.ts'
import { LIMITS } from './limits.ts'
import { loadFileDataset } from './data/load.ts'
import { dataFilesProblem, DEFAULT_TEST_SPLIT, isFileDataset, NORMALIZE_MODES, parseDataSource, type DataFiles } from './data/spec.ts'
import type { DataProgress } from './data/read.ts'

/** The caps of one job (training/limits.ts), re-exported beside the rules that use them. */
export { LIMITS }

/**
 * The training options shared by `simulate`, `testnet` and `job init` (docs/design.md §Training options), their
 * defaults, and their validation. A bad value is a `ConfigError` with a message that names
 * the flag, never a crash later in training.
 */

export const STRATEGIES = ['codenet', 'replication', 'uncoded'] as const
export type Strategy = typeof STRATEGIES[number]
export const ACTIVATION_NAMES = ['relu', 'sigmoid', 'tanh'] as const
export type Activation = typeof ACTIVATION_NAMES[number]
/** The soft-error kinds and models are training/soft-errors.ts's (one list, one table of defaults). */
export type { ErrorKind, ErrorModel }
/** The built-in sets, or files: `csv:PATH`, `idx:IMAGES,LABELS` (training/data/, with `TrainingConfig.data`). */
export type DatasetName = 'mnist' | 'synthetic' | `csv:${string}` | `idx:${string}`
export type { DataFiles }
/** How the learning rate moves over training: fixed, or cosine from --lr down to 0. */
export const LR_SCHEDULES = ['constant', 'cosine'] as const
export type LrSchedule = typeof LR_SCHEDULES[number]

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
  /** Layer widths, input first: [784, 256, 128, 10]. */
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
  /** Only for csv:/idx: datasets: the files' sha256, the held-out set, label column, normalisation. */
  data?: DataFiles
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
  // The default recipe: ≥ 95.0 % test accuracy on the MNIST split for every seed 1–5 (median
  // 95.31 %) in 744 steps; chosen by measurement over several recipes (docs/simulate.md). Fewer,
  // larger steps also suit the network: one round of results carries 64 samples, not 16.
  model: [784, 256, 128, 10],
  activation: 'relu',
  batch: 64,
  epochs: 6,
  steps: null,
  lr: 0.3,
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
'checkpoint-every' | 'lr-schedule' | 'hidden' | 'test' | 'test-split' | 'label-column' | 'normalize', string>>

export const TRAINING_FLAG_NAMES = [
  'peers', 'strategy', 'code', 'replicas', 'model', 'activation', 'batch', 'epochs', 'steps',
  'lr', 'momentum', 'seed', 'dataset', 'error-rate', 'error-kind', 'error-magnitude', 'error-model',
  'checkpoint-every', 'lr-schedule', 'hidden', 'test', 'test-split', 'label-column', 'normalize'
] as const

type Rule =
  | { kind: 'int', min: number, max: number }
  | { kind: 'real', min: number, max: number }
  | { kind: 'enum', values: readonly string[] }

/**
 * The range or the values of every scalar training option, by config field: the one table
 * the flag parser (trainingConfigFromFlags), the job-file reader (trainingConfigFromJson) and
 * validateTrainingConfig check against. `model`, `code` and `dataset` have their own parsers
 * below, also shared by flags and job files.
 */
export const TRAINING_RULES = Object.freeze({
  peers: { kind: 'int', min: 1, max: LIMITS.peers },
  strategy: { kind: 'enum', values: STRATEGIES },
  replicas: { kind: 'int', min: 1, max: 64 },
  activation: { kind: 'enum', values: ACTIVATION_NAMES },
  batch: { kind: 'int', min: 1, max: LIMITS.batch },
  epochs: { kind: 'real', min: 0.001, max: 1e6 },
  steps: { kind: 'int', min: 1, max: LIMITS.steps },
  lr: { kind: 'real', min: 1e-9, max: 100 },
  momentum: { kind: 'real', min: 0, max: 0.999 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
  errorRate: { kind: 'real', min: 0, max: 1 },
  errorKind: { kind: 'enum', values: ERROR_KINDS },
  errorMagnitude: { kind: 'real', min: 0, max: 1e12 },
  errorModel: { kind: 'enum', values: ERROR_MODELS },
  checkpointEvery: { kind: 'int', min: 1, max: 1e9 },
  lrSchedule: { kind: 'enum', values: LR_SCHEDULES }
} satisfies Partial<Record<keyof TrainingConfig, Rule>>)

type RuledField = keyof typeof TRAINING_RULES

/** The flag of a config field: errorRate → error-rate. */
export const flagOf = (field: string): string => field.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)

const show = (v: unknown): string => typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v)

/** Check one value (already a number or a string) against its rule; the message names the flag. */
function checkRule (field: RuledField, v: unknown): void {
  const r: Rule = TRAINING_RULES[field]
  const flag = `--${flagOf(field)}`
  if (r.kind === 'enum') {
    if (typeof v !== 'string' || !r.values.includes(v)) throw new ConfigError(`${flag} must be one of ${r.values.join('|')}, got ${show(v)}`)
    return
  }
  if (r.kind === 'int' && !Number.isInteger(v)) throw new ConfigError(`${flag} must be a whole number, got ${show(v)}`)
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${flag} must be a number, got ${show(v)}`)
  if (v < r.min || v > r.max) throw new ConfigError(`${flag} must be between ${r.min} and ${r.max}, got ${v}`)
}

/** A flag's string through its rule. */
function fromFlag<F extends RuledField> (field: F, v: string): TrainingConfig[F] {
  const r: Rule = TRAINING_RULES[field]
  if (r.kind === 'enum') { checkRule(field, v); return v as TrainingConfig[F] }
  const t = v.trim()
  if (r.kind === 'int' && !/^-?\d+$/.test(t)) throw new ConfigError(`--${flagOf(field)} must be a whole number, got '${v}'`)
  const n = Number(t)
  if (t === '' || !Number.isFinite(n)) throw new ConfigError(`--${flagOf(field)} must be a number, got '${v}'`)
  checkRule(field, n)
  return n as TrainingConfig[F]
}

function checkCode (m: unknown, n: unknown): void {
  if (!Number.isInteger(m) || !Number.isInteger(n) || (m as number) < 1 || (n as number) < 1 || (m as number) > 64 || (n as number) > 64) {
    throw new ConfigError(`--code: m and n must be whole numbers between 1 and 64, got m=${show(m)}, n=${show(n)}`)
  }
}

export function parseCode (v: string): CodeChoice {
  const m = /^polydot:m=(\d+),n=(\d+)$/.exec(v.trim())
  if (m === null) throw new ConfigError(`--code must look like polydot:m=M,n=N, got '${v}'`)
  const mm = Number(m[1]); const nn = Number(m[2])
  checkCode(mm, nn)
  return { scheme: 'polydot', m: mm, n: nn }
}

/** Widths count, each width, parameter count and classes (shared by --model and job files). */
function checkModel (widths: readonly unknown[]): void {
  if (widths.length < 2 || widths.length > LIMITS.layers) {
    throw new ConfigError(`--model must list 2 to ${LIMITS.layers} layer widths (input first, like 784-128-10), got ${widths.length}`)
  }
  widths.forEach((w, i) => {
    if (!Number.isInteger(w) || (w as number) < 1 || (w as number) > LIMITS.width) {
      throw new ConfigError(`--model: width ${i + 1} must be a whole number between 1 and ${LIMITS.width}, got ${show(w)}`)
    }
  })
  const ws = widths as readonly number[]
  let params = 0
  for (let l = 0; l + 1 < ws.length; l++) params += ws[l] * ws[l + 1]
  if (params > LIMITS.parameters) {
    throw new ConfigError(`--model ${ws.join('-')} has ${params} weights, more than the cap of ${LIMITS.parameters} (2^24: the decoded model must fit one JSON export)`)
  }
  const classes = ws[ws.length - 1]
  if (classes < 2 || classes > LIMITS.classes) throw new ConfigError(`--model: the last width is the number of classes, 2 to ${LIMITS.classes}, got ${classes}`)
}

export function parseModel (v: string): number[] {
  const parts = v.split('-')
  if (parts.length < 2) throw new ConfigError(`--model must list at least two layer widths like 784-128-10, got '${v}'`)
  const widths = parts.map((p, i) => {
    if (!/^\d+$/.test(p.trim())) throw new ConfigError(`--model: width ${i + 1} must be a whole number, got '${p}'`)
    return Number(p)
  })
  checkModel(widths)
  return widths
}

/** --dataset NAME (also the `dataset` field of a job file): mnist, synthetic, csv:PATH or idx:IMAGES,LABELS. */
export function parseDataset (v: string): DatasetName {
  if (isFileDataset(v)) {
    try { parseDataSource(v) } catch (err) { throw new ConfigError((err as Error).message) }
    return v as DatasetName
  }
  return oneOf('dataset', v, ['mnist', 'synthetic', 'csv:PATH', 'idx:IMAGES,LABELS'] as const)
}

/** --hidden W1-W2-… (or none): the hidden widths between the data's input width and its classes. */
export function parseHidden (v: string): number[] {
  if (v.trim() === 'none') return []
  return v.split('-').map((p, i) => {
    if (!/^\d+$/.test(p.trim()) || Number(p) < 1 || Number(p) > LIMITS.width) throw new ConfigError(`--hidden: width ${i + 1} must be a whole number between 1 and ${LIMITS.width} (like 128-64, or none), got '${p}'`)
    return Number(p)
  })
}

export interface DataLoadOptions {
  /** Progress of reading a csv:/idx: dataset's files (they are read to infer the model and hash them). */
  progress?: DataProgress
}

/**
 * The data flags, after --dataset and --model: a csv:/idx: dataset is read here (its input
 * width and classes make the model's ends, its files' sha256 go into `data`); --hidden gives
 * the widths between (with --model too, they must agree).
 */
function applyDataFlags (c: TrainingConfig, f: RawTrainingFlags, base: Readonly<TrainingConfig>, opts: DataLoadOptions): void {
  const hidden = f.hidden !== undefined ? parseHidden(f.hidden) : null
  let ends: [number, number] = c.dataset === 'mnist' ? [784, 10] : [c.model[0], c.model[c.model.length - 1]]
  if (!isFileDataset(c.dataset)) {
    const given = (['test', 'test-split', 'label-column', 'normalize'] as const).find(k => f[k] !== undefined)
    if (given !== undefined) throw new ConfigError(`--${given} applies to csv: and idx: datasets, not --dataset ${c.dataset}`)
    delete c.data
  } else {
    if (f.test !== undefined && f['test-split'] !== undefined) throw new ConfigError('give --test or --test-split, not both')
    const prev = base.dataset === c.dataset ? base.data : undefined
    let testSplit: number | null = null
    if (f['test-split'] !== undefined) {
      testSplit = Number(f['test-split'])
      if (f['test-split'].trim() === '' || !(testSplit > 0 && testSplit < 1)) throw new ConfigError(`--test-split must be a fraction between 0 and 1 (both excluded), got '${f['test-split']}'`)
    }
    const test = f.test ?? (testSplit !== null ? null : prev?.test ?? null)
    if (test !== null) {
      try { parseDataSource(test, c.dataset.startsWith('idx:') ? 'idx' : 'csv', '--test') } catch (err) { throw new ConfigError((err as Error).message) }
    }
    const normalize = f.normalize !== undefined ? oneOf('normalize', f.normalize, NORMALIZE_MODES) : prev?.normalize ?? null
    const labelColumn = f['label-column'] ?? prev?.labelColumn ?? null
    if (labelColumn !== null && c.dataset.startsWith('idx:')) throw new ConfigError('--label-column applies to csv: datasets (an IDX labels file is its own column)')
    const data: DataFiles = { sha256: {}, test, testSplit: test !== null ? null : testSplit ?? prev?.testSplit ?? DEFAULT_TEST_SPLIT, labelColumn, normalize }
    const loaded = loadFileDataset({ dataset: c.dataset, ...data }, { progress: opts.progress })
    data.sha256 = loaded.sha256
    c.data = data
    ends = [loaded.dataset.inputSize, loaded.dataset.classes]
    if (f.model !== undefined && (c.model[0] !== ends[0] || c.model[c.model.length - 1] !== ends[1])) {
      throw new ConfigError(`--model ${c.model.join('-')}: ${c.dataset} has ${ends[0]} features and ${ends[1]} classes, so the model is ${ends[0]}-…-${ends[1]} (or give the hidden widths alone with --hidden)`)
    }
  }
  if (f.model !== undefined) {
    const inner = c.model.slice(1, -1)
    if (hidden !== null && inner.join('-') !== hidden.join('-')) throw new ConfigError(`--model ${c.model.join('-')} and --hidden ${f.hidden} disagree: the model's hidden widths are ${inner.join('-') || 'none'}`)
  } else if (hidden !== null || isFileDataset(c.dataset)) {
    c.model = [ends[0], ...(hidden ?? base.model.slice(1, -1)), ends[1]]
  }
}

function oneOf<T extends string> (flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`--${flag} must be one of ${allowed.join('|')}, got '${v}'`)
  }
  return v as T
}

/** Apply flags on top of a base config and validate the result as a whole. */
export function trainingConfigFromFlags (flags: RawTrainingFlags, base: Readonly<TrainingConfig> = DEFAULT_CONFIG, dataOptions: DataLoadOptions = {}): TrainingConfig {
  const c: TrainingConfig = { ...base, model: [...base.model], code: base.code === null ? null : { ...base.code } }
  const f = flags
  if (f.peers !== undefined) c.peers = fromFlag('peers', f.peers)
  if (f.strategy !== undefined) c.strategy = fromFlag('strategy', f.strategy)
  if (f.code !== undefined) c.code = parseCode(f.code)
  if (f.replicas !== undefined) c.replicas = fromFlag('replicas', f.replicas)
  if (f.model !== undefined) c.model = parseModel(f.model)
  if (f.activation !== undefined) c.activation = fromFlag('activation', f.activation)
  if (f.batch !== undefined) c.batch = fromFlag('batch', f.batch)
  if (f.epochs !== undefined && f.steps !== undefined) throw new ConfigError('give --epochs or --steps, not both')
  if (f.epochs !== undefined) { c.epochs = fromFlag('epochs', f.epochs); c.steps = null }
  if (f.steps !== undefined) { c.steps = fromFlag('steps', f.steps); c.epochs = null }
  if (f.lr !== undefined) c.lr = fromFlag('lr', f.lr)
  if (f.momentum !== undefined) c.momentum = fromFlag('momentum', f.momentum)
  if (f.seed !== undefined) c.seed = fromFlag('seed', f.seed)
  if (f.dataset !== undefined) c.dataset = parseDataset(f.dataset)
  if (f['error-rate'] !== undefined) c.errorRate = fromFlag('errorRate', f['error-rate'])
  if (f['error-kind'] !== undefined) c.errorKind = fromFlag('errorKind', f['error-kind'])
  if (f['error-magnitude'] !== undefined) c.errorMagnitude = fromFlag('errorMagnitude', f['error-magnitude'])
  if (f['error-model'] !== undefined) c.errorModel = fromFlag('errorModel', f['error-model'])
  if (f['checkpoint-every'] !== undefined) c.checkpointEvery = fromFlag('checkpointEvery', f['checkpoint-every'])
  if (f['lr-schedule'] !== undefined) c.lrSchedule = fromFlag('lrSchedule', f['lr-schedule'])
  applyDataFlags(c, f, base, dataOptions)
  validateTrainingConfig(c)
  return c
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The `config` of a job file, checked field by field through the same rules as the flags, then
 * as a whole. Every field must be present (a job file of another codenet version is refused
 * rather than half-understood) and no other field may be.
 */
export function trainingConfigFromJson (raw: unknown): TrainingConfig {
  if (!isObject(raw)) throw new ConfigError('the config must be a JSON object')
  // `data` is the one optional field (csv:/idx: datasets only), checked by validateTrainingConfig.
  for (const k of Object.keys(raw)) if (!(k in DEFAULT_CONFIG) && k !== 'data') throw new ConfigError(`the config has an unknown field '${k}'`)
  for (const k of Object.keys(DEFAULT_CONFIG)) if (!(k in raw)) throw new ConfigError(`the config lacks '${k}'`)
  for (const [k, def] of Object.entries(DEFAULT_CONFIG)) {
    const v = raw[k]
    if (k in TRAINING_RULES) {
      if (!((k === 'epochs' || k === 'steps') && v === null)) checkRule(k as RuledField, v)
    } else if (k === 'model') {
      if (!Array.isArray(v)) throw new ConfigError(`--model must be an array of layer widths, got ${show(v)}`)
      checkModel(v)
    } else if (k === 'code') {
      if (v !== null) {
        if (!isObject(v) || v.scheme !== 'polydot' || Object.keys(v).some(x => x !== 'scheme' && x !== 'm' && x !== 'n')) {
          throw new ConfigError('--code must be null or { "scheme": "polydot", "m": M, "n": N }')
        }
        checkCode(v.m, v.n)
      }
    } else if (k === 'dataset') {
      if (typeof v !== 'string') throw new ConfigError(`--dataset must be a string, got ${show(v)}`)
      parseDataset(v)
    } else if (isObject(def) ? !isObject(v) : typeof v !== typeof def) {
      // A field without a rule of its own: its type must at least be the default's.
      throw new ConfigError(`field '${k}' has the wrong type`)
    }
  }
  const c = raw as unknown as TrainingConfig
  validateTrainingConfig(c)
  return { ...c, model: [...c.model], code: c.code === null ? null : { scheme: 'polydot', m: c.code.m, n: c.code.n } }
}

/**
 * The whole config: every field's rule, then the cross-field checks and the memory caps, then
 * the code itself (which is slow for many peers, hence last). Applied to flags, job files and
 * configs built in code alike.
 */
export function validateTrainingConfig (c: TrainingConfig): void {
  for (const k of Object.keys(TRAINING_RULES) as RuledField[]) {
    if ((k === 'epochs' || k === 'steps') && c[k] === null) continue
    checkRule(k, c[k])
  }
  if (!Array.isArray(c.model)) throw new ConfigError('--model must be a list of layer widths')
  checkModel(c.model)
  if (c.code !== null) checkCode(c.code.m, c.code.n)
  const dataProblem = dataFilesProblem(c.dataset, c.data)
  if (dataProblem !== null) throw new ConfigError(dataProblem)
  if (c.dataset === 'mnist' && c.model[0] !== 784) {
    throw new ConfigError(`--dataset mnist needs a model whose input width is 784, got ${c.model[0]}`)
  }
  if (c.dataset === 'mnist' && c.model[c.model.length - 1] !== 10) {
    throw new ConfigError(`--dataset mnist needs a model with 10 outputs, got ${c.model[c.model.length - 1]}`)
  }
  const widthSum = c.model.reduce((a, w) => a + w, 0)
  if (c.batch * widthSum > LIMITS.activations) {
    throw new ConfigError(`--batch ${c.batch} with --model ${c.model.join('-')} keeps ${c.batch * widthSum} activations per step, more than the cap of ${LIMITS.activations} (2^24): use a smaller batch`)
  }
  const widest = Math.max(...c.model)
  if (c.peers * c.batch * widest > LIMITS.roundResults) {
    throw new ConfigError(`--peers ${c.peers} × --batch ${c.batch} × widest layer ${widest} = ${c.peers * c.batch * widest} floats of results in one round, more than the cap of ${LIMITS.roundResults} (2^26): use fewer peers or a smaller batch`)
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
