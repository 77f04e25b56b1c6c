/**
 * `codenet job init [training options] [--job-key FILE | --members ID,… | --open] > job.json`
 * `codenet job admit --job job.json [--job-key FILE] PEER_ID > ticket.json`
 *
 * `init` writes a job spec. Its hash names the job's gossip topics and protocol ids, so every
 * peer started with the same file joins the same job. The spec names who may take part
 * (protocols/admission.ts): by default a job key (created in --job-key, `codenet-job.key`, if
 * the file does not exist; reused if it does) whose tickets admit peers; or the listed peer ids;
 * or, with --open, anyone who knows the job (the old behaviour: peers warn loudly).
 *
 * `admit` signs a ticket for one peer id (`codenet peer --print-id --data-dir D` prints it);
 * the peer passes it with `--ticket FILE`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { type RawTrainingFlags, TRAINING_FLAG_NAMES, trainingConfigFromFlags } from '../../training/config.ts'
import { dataProgress } from '../data-progress.ts'
import { createJobSpec, jobHash, parseJobSpec, JobError } from '../../protocols/job.ts'
import { AdmissionError, generateJobKey, jobKeyFromPem, jobKeyToPem, publicKeyText, signTicket, type AdmissionSpec } from '../../protocols/admission.ts'
import { PEER_ID_RE } from '../../protocols/schema.ts'
import type { KeyObject } from 'node:crypto'

const trainingOptions = Object.fromEntries(TRAINING_FLAG_NAMES.map(n => [n, { type: 'string' as const }]))
export const DEFAULT_JOB_KEY = 'codenet-job.key'

function readJobKey (path: string): KeyObject {
  let pem: string
  try { pem = readFileSync(path, 'utf8') } catch (err) { throw new UsageError(`cannot read the job key ${path}: ${(err as Error).message}`) }
  if (pem.length > 4096) throw new UsageError(`${path} is too large to be a job key`)
  try { return jobKeyFromPem(pem, path) } catch (err) {
    if (err instanceof AdmissionError) throw new UsageError(err.message)
    throw err
  }
}

/** The job key at `path`: read when the file exists, created (mode 0600) when it does not. */
function jobKeyAt (path: string, ctx: CommandContext): KeyObject {
  if (existsSync(path)) return readJobKey(path)
  const key = generateJobKey()
  try { writeFileSync(path, jobKeyToPem(key), { mode: 0o600, flag: 'wx' }) } catch (err) { throw new UsageError(`cannot write the job key to ${path}: ${(err as Error).message}`) }
  ctx.stderr.write(`job key written to ${path} (keep it: \`codenet job admit\` signs tickets with it)\n`)
  return key
}

function parseMembers (list: string[]): string[] {
  const ids = list.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  for (const id of ids) if (!PEER_ID_RE.test(id)) throw new UsageError(`--members: '${id}' is not a peer id`)
  if (new Set(ids).size !== ids.length) throw new UsageError('--members lists a peer twice')
  return ids
}

async function init (ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...trainingOptions,
    'job-key': { type: 'string' },
    members: { type: 'string', multiple: true },
    open: { type: 'boolean' }
  })
  const raw: RawTrainingFlags = {}
  const all = values as Record<string, string | undefined>
  for (const n of TRAINING_FLAG_NAMES) if (typeof all[n] === 'string') raw[n] = all[n]
  const config = trainingConfigFromFlags(raw, undefined, { progress: dataProgress(ctx.stderr) })
  if (values.open === true && (values.members !== undefined || values['job-key'] !== undefined)) throw new UsageError('--open admits anyone: it cannot go with --members or --job-key')
  let admission: AdmissionSpec | undefined
  if (values.open !== true) {
    const members = values.members !== undefined ? parseMembers(values.members) : undefined
    if (members !== undefined && members.length < config.peers && values['job-key'] === undefined) {
      throw new UsageError(`--members lists ${members.length} peers but the job needs ${config.peers}: list them all, or add --job-key FILE to admit the rest by ticket`)
    }
    const key = members === undefined || values['job-key'] !== undefined ? jobKeyAt(values['job-key'] ?? DEFAULT_JOB_KEY, ctx) : undefined
    admission = { ...(members !== undefined ? { members } : {}), ...(key !== undefined ? { key: publicKeyText(key) } : {}) }
  }
  const spec = createJobSpec(config, admission)
  ctx.stdout.write(`${JSON.stringify(spec, null, 2)}\n`)
  const who = admission === undefined
    ? 'OPEN: anyone who knows the job may take a seat'
    : [admission.members !== undefined ? `${admission.members.length} listed peers` : '', admission.key !== undefined ? 'peers with a ticket (`codenet job admit PEER_ID`)' : ''].filter(s => s !== '').join(' and ')
  ctx.stderr.write(`job ${jobHash(spec).slice(0, 16)}: ${spec.config.peers} peers, ${spec.config.strategy}, model ${spec.config.model.join('-')}, dataset ${spec.config.dataset}; admits ${who}\n`)
  return 0
}

async function admit (ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { job: { type: 'string' }, 'job-key': { type: 'string' } }, true)
  if (values.job === undefined) throw new UsageError('--job FILE is required: the job the ticket admits to')
  if (positionals.length !== 1) throw new UsageError('give exactly one PEER_ID (`codenet peer --print-id --data-dir D` prints a peer\'s id)')
  const peer = positionals[0]
  if (!PEER_ID_RE.test(peer)) throw new UsageError(`'${peer}' is not a peer id`)
  let text: string
  try { text = readFileSync(values.job, 'utf8') } catch (err) { throw new UsageError(`cannot read job file ${values.job}: ${(err as Error).message}`) }
  let spec
  try { spec = parseJobSpec(text) } catch (err) {
    if (err instanceof JobError) throw new UsageError(`${values.job}: ${err.message}`)
    throw err
  }
  const keyPath = values['job-key'] ?? DEFAULT_JOB_KEY
  const key = readJobKey(keyPath)
  if (spec.admission?.key === undefined) throw new UsageError(`${values.job} admits no one by ticket (it has no job key): ${spec.admission === undefined ? 'it is an open job' : 'list the peer in --members instead'}`)
  if (spec.admission.key !== publicKeyText(key)) throw new UsageError(`${keyPath} is not the key of ${values.job}`)
  const hash = jobHash(spec)
  ctx.stdout.write(`${JSON.stringify(signTicket(key, hash, peer))}\n`)
  ctx.stderr.write(`ticket for ${peer} to job ${hash.slice(0, 16)}\n`)
  return 0
}

async function run (ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = ctx.argv
  if (sub === 'init') return await init(ctx, rest)
  if (sub === 'admit') return await admit(ctx, rest)
  throw new UsageError(sub === undefined ? 'missing subcommand: codenet job init [training options] | codenet job admit --job FILE PEER_ID' : `unknown subcommand '${sub}' (init | admit)`)
}

export const jobCommand: Command = {
  ...describeCommand('job'),
  run
}
