/**
 * `codenet <command>`: argument parsing and dispatch. Each command lives in its own module
 * under testnet/commands/ and is loaded only when it runs, so `codenet --help` stays instant.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError } from '../training/config.ts'

export class UsageError extends Error {
  override name = 'UsageError'
}

export interface CommandContext {
  argv: string[]
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export interface Command {
  name: string
  summary: string
  usage: string
  /** Resolves to the exit code. */
  run: (ctx: CommandContext) => Promise<number>
}

/** Soft-error rate `codenet testnet` (and `npm start`) sends every peer when --error-rate is not given. */
export const DEFAULT_SOFT_ERROR_RATE = 0.002

export const TRAINING_OPTIONS_HELP = `Training options:
  --peers P                 number of peers (6)
  --strategy S              codenet | replication | uncoded (codenet)
  --code polydot:m=M,n=N    code shape (chosen from P by default)
  --replicas R              copies per block for --strategy replication (3)
  --model W0-W1-…           layer widths, input first (784-128-64-10)
  --activation A            relu | sigmoid | tanh (relu)
  --batch B                 mini-batch size (16)
  --epochs E | --steps S    length of training (3 epochs)
  --lr η                    peak learning rate (0.1)
  --lr-schedule S           cosine (from η down to 0) | constant (cosine)
  --momentum μ              SGD momentum, 0 for plain SGD (0.7)
  --seed N                  seed for data order, initial weights and faults (1)
  --dataset D               mnist | synthetic (mnist)
  --error-rate ε            probability that one peer's one operation suffers a soft error (0)
  --error-kind K            gaussian | bitflip (gaussian)
  --error-magnitude σ       standard deviation of gaussian errors (1)
  --error-model M           probabilistic | adversarial (probabilistic)
  --checkpoint-every K      steps between verified checkpoints (50)`

/** parseArgs with strict checking; unknown flags and missing values become UsageErrors. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>> (argv: string[], options: T, allowPositionals = false): ReturnType<typeof parseArgs<{ options: T, strict: true, allowPositionals: boolean }>> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''))
  }
}

const notBuilt = (name: string) => async (ctx: CommandContext): Promise<number> => {
  ctx.stderr.write(`codenet ${name}: not built yet in this version of codenet.\n`)
  return 2
}

export const COMMANDS: Command[] = [
  {
    name: 'simulate',
    summary: 'P peers in one process over the in-memory exchange; deterministic for a seed',
    usage: `codenet simulate [training options] [--json FILE] [--export-weights FILE] [--quiet]\n       codenet simulate --evaluate-weights FILE      accuracy of a weights file on the test split\n\n${TRAINING_OPTIONS_HELP}`,
    run: async (ctx) => await (await import('./commands/simulate.ts')).simulateCommand.run(ctx)
  },
  {
    name: 'testnet',
    summary: 'P peer processes on loopback over libp2p, with live progress and a summary',
    usage: `codenet testnet [training options] [--keep] [--json FILE] [--export-weights FILE] [--dashboard] [--dashboard-port P] [--report DIR] [--replay FILE] [--quiet]
       codenet testnet down

  --keep                run in the background and stay up after training (status, fault, dashboard); stop with \`codenet testnet down\`
  --dashboard           serve the live dashboard on 127.0.0.1 (URL printed; any free port, or --dashboard-port P)
  --report DIR          write summary.json, history.jsonl and SVG plots of loss/accuracy with faults marked
  --replay FILE         inject the faults of a history.jsonl again, at the same steps and with the same seeds
  --round-timeout-ms T  passed to every peer
  State folder: .codenet/testnet/ (or $CODENET_TESTNET_DIR).
  Without --error-rate, every peer gets \`fault soft-error --rate ${DEFAULT_SOFT_ERROR_RATE} --step matmul\` when training starts, so correction shows;
  --error-rate ε uses the training option instead (ε = 0: no soft errors).

${TRAINING_OPTIONS_HELP}`,
    run: async (ctx) => await (await import('./commands/testnet.ts')).testnetCommand.run(ctx)
  },
  {
    name: 'job',
    summary: 'codenet job init [training options] > job.json: write a job spec',
    usage: `codenet job init [training options] > job.json\n\n${TRAINING_OPTIONS_HELP}`,
    run: async (ctx) => await (await import('./commands/job.ts')).jobCommand.run(ctx)
  },
  {
    name: 'peer',
    summary: 'run one peer of a job; finds the others by mDNS or --bootstrap',
    usage: `codenet peer --job FILE [--data-dir D] [--listen MA] [--bootstrap MA …] [--swarm-key F] [--json F] [--export-weights F]

  --job FILE              the job spec (codenet job init … > job.json)
  --data-dir D            identity and checkpoints (codenet-peer-<job>); reuse it to restart the same peer
  --listen MA             listen address, repeatable (/ip4/0.0.0.0/tcp/0)
  --bootstrap MA          a peer to dial, with /p2p/<id>, repeatable (where mDNS is blocked)
  --no-mdns               do not discover peers by mDNS
  --swarm-key F           private network: only peers with the same key connect (@libp2p/pnet format)
  --json F                write the summary JSON when done
  --export-weights F      write the decoded weights when done
  --round-timeout-ms T    give up on a round after T ms (15000)
  --fault-rate ε          testing aid: this peer corrupts its own work with probability ε per operation
  --fault-kind K          gaussian | bitflip (gaussian); --fault-magnitude σ (1)
  --fault-site S          matmul|encode|decode|activation|hadamard|update, repeatable (matmul)
  --control-key F         obey signed fault commands from this Ed25519 public key (the testnet's);
                          without it every fault command is refused
  --dashboard PORT        serve the live dashboard for this peer on 127.0.0.1:PORT
  --quiet                 no progress on stderr`,
    run: async (ctx) => await (await import('./commands/peer.ts')).peerCommand.run(ctx)
  },
  {
    name: 'status',
    summary: 'peers, step, loss, accuracy and faults of the running testnet',
    usage: 'codenet status [--json] [--watch] [--interval-ms T]\n\n  --json            one JSON document (with --watch: one per line)\n  --watch           refresh every T ms (2000) until Ctrl+C',
    run: async (ctx) => await (await import('./commands/status.ts')).statusCommand.run(ctx)
  },
  {
    name: 'fault',
    summary: 'inject a fault into the running testnet (or `fault clear`)',
    usage: `codenet fault <soft-error|straggler|crash|pause|partition|byzantine|garbage-frames|clear> [--peer I|all] […] [--seed N] [--json]

  soft-error       --rate ε (0.05) --kind gaussian|bitflip --magnitude σ (1) --step matmul|activation|hadamard|encode|decode|update|any (matmul)
  straggler        --delay-ms T (1000): the peer waits T ms before publishing each result
  crash            kill the peer process; --restart-after-s S restarts it (same data dir and id) after S s
  pause            the peer stops publishing until \`fault clear\`
  partition        --from I --to J cuts the link between I and J; without them, the peers split in halves
  byzantine        --magnitude σ (1): the peer's results are consistently wrong (the same offset every round)
  garbage-frames   the peer sends malformed frames on the results protocol before each result
  clear            switch every fault off
  --peer I|all     target peer index (as in \`codenet status\`), default all
  --seed N         seed of the fault's random draws (recorded for --replay; random by default)`,
    run: async (ctx) => await (await import('./commands/fault.ts')).faultCommand.run(ctx)
  },
  {
    name: 'bench',
    summary: 'benchmarks, each a ratio against its baseline measured in the same run',
    usage: `codenet bench gemm|codes|exchange|training [--json FILE] [--quick]

  gemm       GFLOP/s of the WASM SIMD and JS kernels beside single-thread OpenBLAS (numpy, when
             python3 has it) and ml-matrix, interleaved; target ≥ 0.30× OpenBLAS median
  codes      encode/decode/detect/audit/repair/update time as multiples of the peer's own GEMM
  --json F   also write the figures as JSON
  --quick    small shapes and few repeats (a smoke run, not the official figure)`,
    run: async (ctx) => await (await import('./commands/bench.ts')).benchCommand.run(ctx)
  }
]

/** Name, summary and usage of a command as this table has them: one source for --help and the modules. */
export function describeCommand (name: string): Pick<Command, 'name' | 'summary' | 'usage'> {
  const c = COMMANDS.find(c => c.name === name)
  if (c === undefined) throw new Error(`no command '${name}' in the command table`)
  return { name: c.name, summary: c.summary, usage: c.usage }
}

export function topLevelHelp (): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length))
  return [
    'codenet: coded peer-to-peer training of neural networks on unreliable machines',
    '',
    'Usage: codenet <command> [options]      codenet <command> --help',
    '',
    'Commands:',
    ...COMMANDS.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`),
    ''
  ].join('\n')
}

export async function main (argv: string[], io: { stdout?: NodeJS.WritableStream, stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    stdout.write(topLevelHelp())
    return name === undefined ? 1 : 0
  }
  const cmd = COMMANDS.find(c => c.name === name)
  if (cmd === undefined) {
    stderr.write(`codenet: unknown command '${name}'\n\n${topLevelHelp()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    stdout.write(`Usage: ${cmd.usage}\n`)
    return 0
  }
  try {
    return await cmd.run({ argv: rest, stdout, stderr })
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      stderr.write(`codenet ${name}: ${err.message}\nRun 'codenet ${name} --help' for usage.\n`)
      return 2
    }
    throw err
  }
}
