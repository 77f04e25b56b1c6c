/**
 * `codenet simulate [training options] [fault options] [--json FILE] [--export-weights FILE] [--quiet]`
 * `codenet simulate --evaluate-weights FILE [--dataset D]` (an alias kept from before `codenet evaluate`)
 *
 * P peers in one process over the in-memory exchange (training/simulate.ts), with a
 * progress bar on stderr, a short result on stdout, the summary JSON and the decoded
 * weights on request (JSON, or safetensors when the file ends in .safetensors).
 * `--evaluate-weights` measures a weights file (either format) on the test split
 * independently of any run. The network and adversary faults (--drop-rate, --partition,
 * --crash, --byzantine-peers, …) are training/network-flags.ts's.
 */
import { writeFileSync } from 'node:fs'
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, TRAINING_FLAG_NAMES, trainingConfigFromFlags } from '../../training/config.ts'
import { datasetForConfig, simulate } from '../../training/simulate.ts'
import { describeFaultPlan, FAULT_FLAG_OPTIONS, faultPlanFromFlags, rawFaultFlags, simulateFaultOptions } from '../../training/network-flags.ts'
import { totalStepsOf } from '../../training/schedule.ts'
import { encodeWeights, evaluateWeightsFile, exportWeights, WeightsFormatError } from '../../training/evaluate.ts'
import { createProgressReporter } from '../progress.ts'
import { dataProgress } from '../data-progress.ts'

const trainingOptions = Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }]))

function writeOut (path: string, text: string | Uint8Array, what: string): void {
  try {
    writeFileSync(path, text)
  } catch (err) {
    throw new UsageError(`cannot write ${what} to ${path}: ${(err as Error).message}`)
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, {
    ...trainingOptions,
    ...FAULT_FLAG_OPTIONS,
    json: { type: 'string' },
    'export-weights': { type: 'string' },
    'evaluate-weights': { type: 'string' },
    quiet: { type: 'boolean' }
  })
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | boolean | undefined>
  for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string') raw[n] = all[n]

  const progress = dataProgress(ctx.stderr, { quiet: values.quiet === true })
  if (values['evaluate-weights'] !== undefined) {
    const config = trainingConfigFromFlags(raw, undefined, { progress })
    try {
      const { accuracy, model } = evaluateWeightsFile(values['evaluate-weights'], datasetForConfig(config))
      ctx.stdout.write(`${JSON.stringify({ file: values['evaluate-weights'], layers: model.layers.map(l => `${l.w.rows}x${l.w.cols}`), activation: model.activation, testAccuracy: accuracy })}\n`)
      return 0
    } catch (err) {
      if (err instanceof WeightsFormatError) { ctx.stderr.write(`codenet simulate: ${err.message}\n`); return 1 }
      throw err
    }
  }

  const config = trainingConfigFromFlags(raw, undefined, { progress })
  const faultFlags = rawFaultFlags(values)
  // Schedules (crashes, partitions) are checked against the run's length, which --epochs gives only with the data.
  const needsLength = config.steps === null && ((faultFlags.crash?.length ?? 0) > 0 || (faultFlags.partition?.length ?? 0) > 0)
  const dataset = needsLength ? datasetForConfig(config) : undefined
  const totalSteps = config.steps ?? (dataset !== undefined ? totalStepsOf(config, Math.floor(dataset.train.count / config.batch)) : null)
  const plan = faultPlanFromFlags(faultFlags, { config, totalSteps })
  const planText = describeFaultPlan(plan)
  const bar = values.quiet === true ? null : createProgressReporter({ stream: ctx.stderr as NodeJS.WritableStream & { isTTY?: boolean }, label: `simulate ${config.strategy}` })
  let result
  try {
    result = await simulate({
      config,
      ...(dataset !== undefined ? { dataset } : {}),
      ...simulateFaultOptions(plan),
      onProgress: p => bar?.update({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, faults: p.faults, rollbacks: p.rollbacks, repairs: p.repairs })
    })
  } catch (err) {
    // A run that ends in an exception (e.g. undecodable final weights) is a result, not a crash of the CLI.
    bar?.done()
    if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) throw err
    ctx.stderr.write(`codenet simulate: the run failed: ${err.name}: ${err.message.split('\n')[0]}${planText !== '' ? ` (faults: ${planText})` : ''}\n`)
    return 1
  }
  bar?.done()
  const s = result.summary
  if (values.json !== undefined) writeOut(values.json, `${JSON.stringify(s, null, 2)}\n`, 'the summary')
  if (values['export-weights'] !== undefined) writeOut(values['export-weights'], encodeWeights(values['export-weights'], exportWeights(result.model)), 'the weights')
  const f = s.faults
  ctx.stdout.write([
    `strategy ${s.strategy}, ${s.peers} peers, code ${s.code.scheme} m=${s.code.m} n=${s.code.n} (Q fwd ${s.code.recoveryThreshold.forward}, bwd ${s.code.recoveryThreshold.backward})`,
    `${s.steps} steps (${s.epochs.toFixed(2)} epochs) in ${s.wallSeconds.toFixed(1)} s; test accuracy ${(100 * s.testAccuracy).toFixed(2)} %, train loss ${s.trainLoss.toFixed(4)}`,
    `faults: injected ${f.injected}, detected ${f.detected}, corrected ${f.corrected}, uncorrectable ${f.uncorrectable}, silent ${f.silent}; rollbacks ${s.rollbacks}, repairs ${s.repairs}`,
    ...(planText !== '' ? [`network and adversaries: ${planText}; messages ${s.network.messages}, dropped ${s.network.dropped}, corrupted ${s.network.corrupted}, delayed ${s.network.delayed}; resyncs ${s.resyncs}`] : []),
    ...(s.stalled !== null ? [`stalled after ${s.completedSteps} of ${s.steps} steps: ${s.stalled}`] : []),
    ''
  ].join('\n'))
  // A stalled run did not train what was asked: a failure, whatever it printed.
  return s.stalled !== null ? 1 : 0
}

export const simulateCommand: Command = {
  ...describeCommand('simulate'),
  run
}
