/**
 * `codenet evaluate --weights FILE [--dataset D] [--test PATH | --test-split F] [--label-column C]
 *                   [--normalize M] [--seed N] [--json] [--quiet]`
 *
 * Measures a weights export (JSON or safetensors, training/evaluate.ts) on the test split of a
 * dataset, independently of the run that wrote it: accuracy and the confusion matrix (rows: the
 * true class, columns: the prediction). The data flags are the training ones, so the same rows
 * are held out and the same class names and normalisation apply.
 */
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, trainingConfigFromFlags } from '../../training/config.ts'
import { datasetForConfig } from '../../training/simulate.ts'
import { confusion, readWeightsFile, WeightsFormatError, type Confusion } from '../../training/evaluate.ts'
import type { Model } from '../../training/model.ts'
import { dataProgress } from '../data-progress.ts'

const DATA_FLAGS = ['dataset', 'test', 'test-split', 'label-column', 'normalize', 'seed'] as const

export interface Evaluation extends Confusion {
  weights: string
  model: string
  activation: string
  dataset: string
  classes: string[]
}

export function formatEvaluation (e: Evaluation): string {
  const k = e.matrix.length
  const w = Math.max(4, ...e.matrix.flat().map(v => String(v).length + 1), String(k - 1).length + 1)
  const cell = (v: string | number): string => String(v).padStart(w)
  const named = e.classes.some((c, i) => c !== String(i))
  return [
    `weights ${e.weights} (${e.model}, ${e.activation}) on the test split of ${e.dataset}: ${e.samples} samples`,
    `accuracy ${(100 * e.accuracy).toFixed(2)} % (${Math.round(e.accuracy * e.samples)} of ${e.samples})`,
    'confusion matrix (rows: true class, columns: predicted class)',
    `${''.padStart(w)} ${Array.from({ length: k }, (_, c) => cell(c)).join('')}`,
    ...e.matrix.map((row, r) => `${cell(r)} ${row.map(cell).join('')}`),
    ...(named ? [`classes: ${e.classes.map((c, i) => `${i} = ${c}`).join(', ')}`] : []),
    ''
  ].join('\n')
}

/** Reads the weights and the data, checks they fit each other, measures. */
export function evaluateOn (weightsFile: string, model: Model, raw: RawTrainingFlags, progress?: ReturnType<typeof dataProgress>): Evaluation {
  const widths = [model.layers[0].w.cols, ...model.layers.map(l => l.w.rows)]
  const flags: RawTrainingFlags = { ...raw }
  // The synthetic task is shaped by the model; every other dataset by itself.
  if ((raw.dataset ?? 'mnist') === 'synthetic') flags.model = widths.join('-')
  const config = trainingConfigFromFlags(flags, undefined, { progress })
  const data = datasetForConfig(config, { progress })
  const outputs = widths[widths.length - 1]
  if (data.inputSize !== widths[0] || data.classes !== outputs) {
    throw new UsageError(`${weightsFile} takes ${widths[0]} inputs and gives ${outputs} outputs; ${data.name} has ${data.inputSize} features and ${data.classes} classes`)
  }
  const c = confusion(model, data.test, data.inputSize, data.classes)
  return {
    weights: weightsFile,
    model: widths.join('-'),
    activation: model.activation,
    dataset: data.name,
    classes: data.classNames ?? Array.from({ length: data.classes }, (_, i) => String(i)),
    ...c
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, {
    weights: { type: 'string' },
    ...Object.fromEntries(DATA_FLAGS.map(n => [n, { type: 'string' as const }])),
    json: { type: 'boolean' },
    quiet: { type: 'boolean' }
  })
  if (values.weights === undefined) throw new UsageError('--weights FILE is required (a weights export: JSON or .safetensors)')
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | boolean | undefined>
  for (const n of DATA_FLAGS) if (typeof all[n] === 'string') raw[n] = all[n]
  let model: Model
  try {
    model = readWeightsFile(values.weights)
  } catch (err) {
    if (err instanceof WeightsFormatError) { ctx.stderr.write(`codenet evaluate: ${err.message}\n`); return 1 }
    throw err
  }
  const e = evaluateOn(values.weights, model, raw, dataProgress(ctx.stderr, { quiet: values.quiet === true }))
  ctx.stdout.write(values.json === true ? `${JSON.stringify({ weights: e.weights, model: e.model, activation: e.activation, dataset: e.dataset, samples: e.samples, accuracy: e.accuracy, classes: e.classes, confusion: e.matrix })}\n` : formatEvaluation(e))
  return 0
}

export const evaluateCommand: Command = {
  ...describeCommand('evaluate'),
  run
}
