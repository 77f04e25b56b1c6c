/**
 * `codenet bench gemm|codes|exchange|training [--json FILE] [--quick]`: each benchmark is a
 * ratio against a baseline measured in the same run, so the figures mean something on a
 * busy machine too. The benchmark modules are loaded only when asked for.
 * `exchange` also takes `--peers P`, `--transport tcp|quic|tcp,quic`, `--only libp2p|raw` and
 * `--cpu-prof DIR`. `step` and `scaling` (testnet vs simulate CPU per step; growth with P and
 * width) take their own flags: testnet/bench/step-cli.ts.
 */
import { describeCommand, parseFlags, UsageError, type Command, type CommandContext } from '../cli.ts'
import type { HostTransport } from '../bench/exchange-worker.ts'

/** The transports `bench exchange --transport` takes (testnet/bench/exchange-worker.ts HOST_TRANSPORTS; not imported, so --help stays instant). */
const HOST_TRANSPORTS = ['tcp', 'quic'] as const satisfies readonly HostTransport[]
import { runStepOrScaling, STEP_FLAG_OPTIONS } from '../bench/step-cli.ts'

const KINDS = ['gemm', 'codes', 'exchange', 'step', 'scaling', 'training'] as const
type Kind = typeof KINDS[number]

interface ExchangeFlags {
  peers?: number
  only?: 'libp2p' | 'raw'
  transports?: HostTransport[]
  cpuProfDir?: string
}

async function runBench (kind: Kind, ctx: CommandContext, json: string | undefined, quick: boolean, exchange: ExchangeFlags): Promise<number> {
  const out = ctx.stdout
  switch (kind) {
    case 'gemm': {
      const { runGemmBench } = await import('../bench/gemm.ts')
      await runGemmBench({ out, json, quick })
      return 0
    }
    case 'codes': {
      const { runCodesBench } = await import('../bench/codes.ts')
      await runCodesBench({ out, json, quick })
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
    default:
      ctx.stderr.write(`codenet bench ${kind}: not built yet in this version of codenet (available: gemm, codes, exchange, step, scaling).\n`)
      return 2
  }
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
      ...STEP_FLAG_OPTIONS
    }, true)
    if (positionals.length !== 1) throw new UsageError(`expected one benchmark (${KINDS.join('|')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`)
    const kind = positionals[0]
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown benchmark '${kind}' (expected ${KINDS.join('|')})`)
    if (kind === 'step' || kind === 'scaling') return await runStepOrScaling(kind, ctx, values)
    for (const flag of Object.keys(STEP_FLAG_OPTIONS)) {
      if ((values as Record<string, unknown>)[flag] !== undefined) throw new UsageError(`--${flag} applies to \`bench step|scaling\` only`)
    }
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
    return await runBench(kind as Kind, ctx, values.json, values.quick === true, exchange)
  }
}
