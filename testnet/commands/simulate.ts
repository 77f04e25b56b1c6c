/**
 * `codenet simulate [training options] [--json FILE] [--export-weights FILE] [--quiet]`
 * `codenet simulate --evaluate-weights FILE [--dataset mnist|synthetic]`
 *
 * P peers in one process over the in-memory exchange (training/simulate.ts), with a
 * progress bar on stderr, a short result on stdout, the summary JSON and the decoded
 * weights on request. `--evaluate-weights` measures a weights file on the test split
 * independently of any run.
 */
import { writeFileSync } from 'node:fs'
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, TRAINING_FLAG_NAMES, trainingConfigFromFlags } from '../../training/config.ts'
import { datasetForConfig, simulate } from '../../training/simulate.ts'
import { evaluateWeightsFile, exportWeights, WeightsFormatError } from '../../training/evaluate.ts'
import { createProgressReporter } from '../progress.ts'

const trainingOptions = Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }]))

function writeOut (path: string, text: string, what: string): void {
  try {
    writeFileSync(path, text)
  } catch (err) {
    throw new UsageError(`cannot write ${what} to ${path}: ${(err as Error).message}`)
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, {
    ...trainingOptions,
    json: { type: 'string' },
    'export-weights': { type: 'string' },
    'evaluate-weights': { type: 'string' },
    quiet: { type: 'boolean' }
  })
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | boolean | undefined>
  for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string') raw[n] = all[n]

  if (values['evaluate-weights'] !== undefined) {
    const config = trainingConfigFromFlags(raw)
    try {
      const { accuracy, model } = evaluateWeightsFile(values['evaluate-weights'], datasetForConfig(config))
      ctx.stdout.write(`${JSON.stringify({ file: values['evaluate-weights'], layers: model.layers.map(l => `${l.w.rows}x${l.w.cols}`), activation: model.activation, testAccuracy: accuracy })}\n`)
      return 0
    } catch (err) {
      if (err instanceof WeightsFormatError) { ctx.stderr.write(`codenet simulate: ${err.message}\n`); return 1 }
      throw err
    }
  }

  const config = trainingConfigFromFlags(raw)
  const progress = values.quiet === true ? null : createProgressReporter({ stream: ctx.stderr as NodeJS.WritableStream & { isTTY?: boolean }, label: `simulate ${config.strategy}` })
  const result = await simulate({
    config,
    onProgress: p => progress?.update({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, faults: p.faults, rollbacks: p.rollbacks, repairs: p.repairs })
  })
  progress?.done()
  const s = result.summary
  if (values.json !== undefined) writeOut(values.json, `${JSON.stringify(s, null, 2)}\n`, 'the summary')
  if (values['export-weights'] !== undefined) writeOut(values['export-weights'], `${JSON.stringify(exportWeights(result.model))}\n`, 'the weights')
  const f = s.faults
  ctx.stdout.write([
    `strategy ${s.strategy}, ${s.peers} peers, code ${s.code.scheme} m=${s.code.m} n=${s.code.n} (Q fwd ${s.code.recoveryThreshold.forward}, bwd ${s.code.recoveryThreshold.backward})`,
    `${s.steps} steps (${s.epochs.toFixed(2)} epochs) in ${s.wallSeconds.toFixed(1)} s; test accuracy ${(100 * s.testAccuracy).toFixed(2)} %, train loss ${s.trainLoss.toFixed(4)}`,
    `faults: injected ${f.injected}, detected ${f.detected}, corrected ${f.corrected}, uncorrectable ${f.uncorrectable}, silent ${f.silent}; rollbacks ${s.rollbacks}, repairs ${s.repairs}`,
    ''
  ].join('\n'))
  return 0
}

export const simulateCommand: Command = {
  ...describeCommand('simulate'),
  run
}
