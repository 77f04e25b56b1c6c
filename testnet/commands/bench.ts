/**
 * `codenet bench gemm|codes|exchange|step|scaling|paper|training [--json FILE] [--quick]`: each
 * benchmark is a ratio against a baseline measured in the same run, so the figures mean something
 * on a busy machine too. The benchmark modules are loaded only when asked for.
 * `exchange` also takes `--peers P`, `--transport tcp|quic|tcp,quic`, `--only libp2p|raw` and
 * `--cpu-prof DIR`. `step` and `scaling` (testnet vs simulate CPU per step; growth with P and
 * width) take their own flags: testnet/bench/step-cli.ts. `paper` (codenet against replication and
 * uncoded on the testnet, testnet/bench/paper.ts) takes --peers, --seed, --steps, --strategy
 * (a comma list) and --svg DIR. `training` (CPU per step of codenet and replication against
 * uncoded, in simulate, testnet/bench/training.ts) takes --peers P (one value), --repeats R,
 * --strategy (a comma list with uncoded) and the training options but --peers/--strategy.
 */
import { describeCommand, parseFlags, UsageError, type Command, type CommandContext } from '../cli.ts'
import type { HostTransport } from '../bench/exchange-worker.ts'

/** The transports `bench exchange --transport` takes (testnet/bench/exchange-worker.ts HOST_TRANSPORTS; not imported, so --help stays instant). */
const HOST_TRANSPORTS = ['tcp', 'quic'] as const satisfies readonly HostTransport[]
import { runStepOrScaling, STEP_FLAG_OPTIONS } from '../bench/step-cli.ts'
import { TRAINING_FLAG_NAMES } from '../../training/config.ts'

const KINDS = ['gemm', 'codes', 'exchange', 'step', 'scaling', 'paper', 'training'] as const

interface ExchangeFlags {
  peers?: number
  only?: 'libp2p' | 'raw'
  transports?: HostTransport[]
  cpuProfDir?: string
}

async function runBench (kind: 'gemm' | 'codes' | 'exchange', ctx: CommandContext, json: string | undefined, quick: boolean, exchange: ExchangeFlags, codesBatch?: number): Promise<number> {
  const out = ctx.stdout
  switch (kind) {
    case 'gemm': {
      const { runGemmBench } = await import('../bench/gemm.ts')
      await runGemmBench({ out, json, quick })
      return 0
    }
    case 'codes': {
      const { runCodesBench } = await import('../bench/codes.ts')
      await runCodesBench({ out, json, quick, batch: codesBatch })
      return 0
    }
    case 'exchange': {
      const { ExchangeBenchError, runExchangeBench } = await import('../bench/exchange.ts')
      try {
        await runExchangeBench({ out, json, quick, ...exchange })
      } catch (err) {
        if (!(err instanceof ExchangeBenchError)) throw err
        ctx.stderr.write(`codenet bench exchange: ${err.message}\n`)
        return 1
      }
      return 0
    }
  }
}

const STRATEGY_NAMES = ['codenet', 'replication', 'uncoded'] as const
type StrategyName = typeof STRATEGY_NAMES[number]

/** One benchmark's own flags: any other is refused in one line; strings, bounded integers and --strategy read. */
function benchFlags (kind: string, values: Record<string, string | boolean | undefined>, allowed: readonly string[]): {
  str: (k: string) => string | undefined
  int: (k: string, min: number, max: number) => number | undefined
  strategies: (withUncoded: boolean) => StrategyName[] | undefined
} {
  for (const [flag, v] of Object.entries(values)) {
    if (v !== undefined && !allowed.includes(flag)) throw new UsageError(`--${flag} does not apply to \`bench ${kind}\``)
  }
  const str = (k: string): string | undefined => typeof values[k] === 'string' ? values[k] : undefined
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = str(k)
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${k} must be an integer in ${min}..${max}, got '${v}'`)
    return Number(v)
  }
  const strategies = (withUncoded: boolean): StrategyName[] | undefined => {
    const list = str('strategy')?.split(',')
    if (list === undefined) return undefined
    if (list.some(x => !(STRATEGY_NAMES as readonly string[]).includes(x)) || new Set(list).size !== list.length || (withUncoded && !list.includes('uncoded'))) {
      throw new UsageError(`--strategy must be a comma list of ${STRATEGY_NAMES.join(', ')}${withUncoded ? ' with uncoded (the baseline) among them' : ''}, got '${str('strategy')}'`)
    }
    return list as StrategyName[]
  }
  return { str, int, strategies }
}

const PAPER_FLAGS = ['json', 'quick', 'peers', 'seed', 'steps', 'strategy', 'svg']

async function runPaper (ctx: CommandContext, values: Record<string, string | boolean | undefined>): Promise<number> {
  const { str, int, strategies } = benchFlags('paper', values, PAPER_FLAGS)
  const peers = int('peers', 2, 32)
  const seed = int('seed', 0, 2 ** 31)
  const steps = int('steps', 1, 1_000_000)
  const list = strategies(false)
  const { runPaperBench } = await import('../bench/paper.ts')
  const { BenchRunError } = await import('../bench/testnet-run.ts')
  try {
    await runPaperBench({ out: ctx.stdout, json: str('json'), quick: values.quick === true, svgDir: str('svg'), peers, seed, steps, strategies: list })
  } catch (err) {
    if (!(err instanceof BenchRunError) && (err as Error).name !== 'ConfigError') throw err
    ctx.stderr.write(`codenet bench paper: ${(err as Error).message}\n`)
    return 1
  }
  return 0
}

/** `bench training`: --json, --quick, --peers P, --repeats R, --strategy and the training options (testnet/bench/training.ts). */
const TRAINING_FLAGS = ['json', 'quick', 'peers', 'repeats', 'strategy', ...TRAINING_FLAG_NAMES.filter(n => n !== 'peers' && n !== 'strategy')]

async function runTraining (ctx: CommandContext, values: Record<string, string | boolean | undefined>): Promise<number> {
  const { str, int, strategies } = benchFlags('training', values, TRAINING_FLAGS)
  const peers = int('peers', 2, 32)
  const repeats = int('repeats', 1, 100)
  const list = strategies(true)
  const flags: Record<string, string> = {}
  for (const n of TRAINING_FLAG_NAMES) { const v = str(n); if (v !== undefined && n !== 'peers' && n !== 'strategy') flags[n] = v }
  const { runTrainingBench } = await import('../bench/training.ts')
  const res = await runTrainingBench({ out: ctx.stdout, json: str('json'), quick: values.quick === true, peers, repeats, strategies: list, flags })
  if (!res.pass) {
    ctx.stderr.write(`codenet bench training: ${res.weightCheck.failures.join('; ')}\n`)
    return 1
  }
  return 0
}

export const benchCommand: Command = {
  ...describeCommand('bench'),
  run: async (ctx) => {
    const { values, positionals } = parseFlags(ctx.argv, {
      json: { type: 'string' },
      quick: { type: 'boolean' },
      peers: { type: 'string' },
      only: { type: 'string' },
      transport: { type: 'string' },
      'cpu-prof': { type: 'string' },
      repeats: { type: 'string' },
      ...STEP_FLAG_OPTIONS
    }, true)
    if (positionals.length !== 1) throw new UsageError(`expected one benchmark (${KINDS.join('|')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`)
    const kind = positionals[0]
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown benchmark '${kind}' (expected ${KINDS.join('|')})`)
    if (kind === 'step' || kind === 'scaling') return await runStepOrScaling(kind, ctx, values)
    if (kind === 'paper') return await runPaper(ctx, values)
    if (kind === 'training') return await runTraining(ctx, values)
    // `bench codes --batch B`: the batch of its targets table (the others' --batch is a training option).
    let codesBatch: number | undefined
    const batch = (values as Record<string, unknown>).batch
    if (kind === 'codes' && typeof batch === 'string') {
      if (!/^\d+$/.test(batch) || Number(batch) < 1 || Number(batch) > 4096) throw new UsageError(`--batch must be an integer in 1..4096, got '${batch}'`)
      codesBatch = Number(batch)
    }
    for (const flag of Object.keys(STEP_FLAG_OPTIONS)) {
      if (flag === 'batch' && kind === 'codes') continue
      if ((values as Record<string, unknown>)[flag] !== undefined) throw new UsageError(`--${flag} applies to \`bench step|scaling\` only`)
    }
    if (values.repeats !== undefined) throw new UsageError('--repeats applies to `bench training` only')
    const exchange: ExchangeFlags = {}
    for (const flag of ['peers', 'only', 'transport', 'cpu-prof'] as const) {
      if (values[flag] !== undefined && kind !== 'exchange') throw new UsageError(`--${flag} applies to \`bench exchange\` only`)
    }
    if (values.peers !== undefined) {
      const p = Number(values.peers)
      if (!/^\d+$/.test(values.peers) || p < 2 || p > 32) throw new UsageError(`--peers must be an integer in 2..32, got '${values.peers}'`)
      exchange.peers = p
    }
    if (values.only !== undefined) {
      if (values.only !== 'libp2p' && values.only !== 'raw') throw new UsageError(`--only must be libp2p or raw, got '${values.only}'`)
      exchange.only = values.only
    }
    if (values.transport !== undefined) {
      const list = values.transport.split(',')
      if (list.some(t => !(HOST_TRANSPORTS as readonly string[]).includes(t)) || new Set(list).size !== list.length) throw new UsageError(`--transport must be tcp, quic or both (tcp,quic), got '${values.transport}'`)
      exchange.transports = list as HostTransport[]
    }
    if (values['cpu-prof'] !== undefined) exchange.cpuProfDir = values['cpu-prof']
    return await runBench(kind as 'gemm' | 'codes' | 'exchange', ctx, values.json, values.quick === true, exchange, codesBatch)
  }
}
