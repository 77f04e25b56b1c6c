/**
 * `codenet job init [training options] > job.json`: write a job spec. Its hash names the job's
 * gossip topics and protocol ids, so every peer started with the same file joins the same job.
 */
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, TRAINING_FLAG_NAMES, trainingConfigFromFlags } from '../../training/config.ts'
import { createJobSpec, jobHash } from '../../protocols/job.ts'

const trainingOptions = Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }]))

async function run (ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = ctx.argv
  if (sub !== 'init') throw new UsageError(sub === undefined ? 'missing subcommand: codenet job init [training options]' : `unknown subcommand '${sub}' (only 'init')`)
  const { values } = parseFlags(rest, trainingOptions)
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | undefined>
  for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string') raw[n] = all[n]
  const spec = createJobSpec(trainingConfigFromFlags(raw))
  ctx.stdout.write(`${JSON.stringify(spec, null, 2)}\n`)
  ctx.stderr.write(`job ${jobHash(spec).slice(0, 16)}: ${spec.config.peers} peers, ${spec.config.strategy}, model ${spec.config.model.join('-')}, dataset ${spec.config.dataset}\n`)
  return 0
}

export const jobCommand: Command = {
  ...describeCommand('job'),
  run
}
