/**
 * The flags of `codenet bench step` and `codenet bench scaling` (testnet/commands/bench.ts parses
 * every benchmark's flags at once and hands these two kinds here). The benchmark modules, which
 * load the trainer and the simulator, are imported only when run.
 */
import { TRAINING_FLAG_NAMES } from '../../training/config.ts'
import { UsageError, type CommandContext } from '../cli.ts'

/** Flags beyond the shared ones (--json, --quick, --peers, --cpu-prof). */
export const STEP_FLAG_OPTIONS = {
  ...Object.fromEntries(TRAINING_FLAG_NAMES.filter(n => n !== 'peers').map(n => [n, { type: 'string' as const }])),
  widths: { type: 'string' as const },
  'width-peers': { type: 'string' as const },
  'width-steps': { type: 'string' as const },
  svg: { type: 'string' as const }
}

const SCALING_FLAGS = ['json', 'quick', 'peers', 'widths', 'width-peers', 'steps', 'width-steps', 'batch', 'svg']
const STEP_FLAGS = ['json', 'quick', 'peers', 'cpu-prof', ...TRAINING_FLAG_NAMES.filter(n => n !== 'peers')]

type Values = Record<string, string | boolean | undefined>

function positiveInt (v: string, flag: string, max: number): number {
  const x = Number(v)
  if (!/^\d+$/.test(v) || x < 1 || x > max) throw new UsageError(`--${flag} must be an integer in 1..${max}, got '${v}'`)
  return x
}

export async function runStepOrScaling (kind: 'step' | 'scaling', ctx: CommandContext, values: Values): Promise<number> {
  const allowed = kind === 'step' ? STEP_FLAGS : SCALING_FLAGS
  for (const [flag, v] of Object.entries(values)) {
    if (v !== undefined && !allowed.includes(flag)) throw new UsageError(`--${flag} does not apply to \`bench ${kind}\``)
  }
  const str = (k: string): string | undefined => typeof values[k] === 'string' ? values[k] : undefined
  const json = str('json'); const quick = values.quick === true
  const { parsePeerList } = await import('./step.ts')
  // `bench scaling --peers none` / `--widths none`: skip that axis.
  const peers = str('peers') === undefined ? undefined : kind === 'scaling' && str('peers') === 'none' ? [] : parsePeerList(str('peers') as string)
  const { BenchRunError } = await import('./testnet-run.ts')
  try {
    if (kind === 'step') {
      const flags: Record<string, string> = {}
      for (const n of TRAINING_FLAG_NAMES) { const v = str(n); if (v !== undefined && n !== 'peers') flags[n] = v }
      const { runStepBench } = await import('./step.ts')
      await runStepBench({ out: ctx.stdout, json, quick, peers, flags, cpuProfDir: str('cpu-prof') })
    } else {
      const { parseWidthList, runScalingBench } = await import('./scaling.ts')
      const n = (k: string, max: number): number | undefined => str(k) === undefined ? undefined : positiveInt(str(k) as string, k, max)
      const widthPeers = n('width-peers', 32)
      if (widthPeers !== undefined && widthPeers < 2) throw new UsageError(`--width-peers must be an integer in 2..32, got '${widthPeers}'`)
      await runScalingBench({
        out: ctx.stdout,
        json,
        quick,
        svg: str('svg'),
        peers,
        widths: str('widths') === undefined ? undefined : str('widths') === 'none' ? [] : parseWidthList(str('widths') as string),
        widthPeers,
        steps: n('steps', 100_000),
        widthSteps: n('width-steps', 100_000),
        batch: n('batch', 4096)
      })
    }
  } catch (err) {
    if (!(err instanceof BenchRunError)) throw err
    ctx.stderr.write(`codenet bench ${kind}: ${err.message}\n`)
    return 1
  }
  return 0
}
