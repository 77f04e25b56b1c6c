/**
 * `codenet bench gemm|codes|exchange|training [--json FILE] [--quick]`: each benchmark is a
 * ratio against a baseline measured in the same run, so the figures mean something on a
 * busy machine too. The benchmark modules are loaded only when asked for.
 */
import { describeCommand, parseFlags, UsageError, type Command, type CommandContext } from '../cli.ts'

const KINDS = ['gemm', 'codes', 'exchange', 'training'] as const
type Kind = typeof KINDS[number]

async function runBench (kind: Kind, ctx: CommandContext, json: string | undefined, quick: boolean): Promise<number> {
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
    default:
      ctx.stderr.write(`codenet bench ${kind}: not built yet in this version of codenet (available: gemm, codes).\n`)
      return 2
  }
}

export const benchCommand: Command = {
  ...describeCommand('bench'),
  run: async (ctx) => {
    const { values, positionals } = parseFlags(ctx.argv, {
      json: { type: 'string' },
      quick: { type: 'boolean' }
    }, true)
    if (positionals.length !== 1) throw new UsageError(`expected one benchmark (${KINDS.join('|')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`)
    const kind = positionals[0]
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown benchmark '${kind}' (expected ${KINDS.join('|')})`)
    return await runBench(kind as Kind, ctx, values.json, values.quick === true)
  }
}
