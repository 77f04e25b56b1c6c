/**
 * `codenet <command>`: argument parsing and dispatch. Each command lives in its own module
 * under testnet/commands/ and is loaded only when it runs, so `codenet --help` stays instant.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError } from '../training/config.ts'
import { DatasetError } from '../training/dataset.ts'
import { DEFAULT_SOFT_ERRORS, ERROR_KINDS, ERROR_MODELS, FAULT_SITES } from '../training/soft-errors.ts'
import { faultUsage } from './fault-params.ts'
import { FAULT_FLAGS_HELP } from '../training/network-flags.ts'

export class UsageError extends Error {
  override name = 'UsageError'
}

export interface CommandContext {
  argv: string[]
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  /** Set when the command runs as one of several peers in a `codenet host` process. */
  hosted?: HostedPeer
}

/** What a peer hosted with others needs from its host (testnet/commands/host.ts). */
export interface HostedPeer {
  /** How many peers the process runs now (a peer reports its share of the process's CPU). */
  peers: () => number
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
  --model W0-W1-…           layer widths, input first (784-256-128-10)
  --hidden W1-W2-…          the hidden widths only (or none); the ends come from the data
  --activation A            relu | sigmoid | tanh (relu)
  --batch B                 mini-batch size (64)
  --epochs E | --steps S    length of training (6 epochs)
  --lr η                    peak learning rate (0.3)
  --lr-schedule S           cosine (from η down to 0) | constant (cosine)
  --momentum μ              SGD momentum, 0 for plain SGD (0.7)
  --seed N                  seed for data order, initial weights and faults (1)
  --dataset D               mnist | synthetic | csv:PATH | idx:IMAGES,LABELS (mnist); a file's width
                            and classes make the model's ends; each peer reads its own copy
  --test PATH               held-out set in the dataset's format (csv: PATH, idx: IMAGES,LABELS)
  --test-split F            or: the last fraction F of each class's rows is held out (0.2)
  --label-column NAME|N     csv: the label column, by header name or number from 1 (the last)
  --normalize M             standard (x − mean)/std | minmax (x − min)/(max − min), per feature,
                            from the training split (none)
  --error-rate ε            probability that one peer's one operation suffers a soft error (${DEFAULT_SOFT_ERRORS.rate})
  --error-kind K            ${ERROR_KINDS.join(' | ')} (${DEFAULT_SOFT_ERRORS.kind})
  --error-magnitude σ       standard deviation of gaussian errors (${DEFAULT_SOFT_ERRORS.magnitude})
  --error-model M           ${ERROR_MODELS.join(' | ')} (${DEFAULT_SOFT_ERRORS.model})
  --checkpoint-every K      steps between verified checkpoints (50)`

/** parseArgs with strict checking; unknown flags and missing values become UsageErrors. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>> (argv: string[], options: T, allowPositionals = false): ReturnType<typeof parseArgs<{ options: T, strict: true, allowPositionals: boolean }>> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''))
  }
}

export const COMMANDS: Command[] = [
  {
    name: 'simulate',
    summary: 'P peers in one process over the in-memory exchange; deterministic for a seed',
    usage: `codenet simulate [training options] [fault options] [--json FILE] [--export-weights FILE] [--quiet]\n       codenet simulate --evaluate-weights FILE      accuracy of a weights file on the test split (see codenet evaluate)\n\n  --export-weights FILE    the decoded model: JSON, or safetensors (F64) when FILE ends in .safetensors\n\n${TRAINING_OPTIONS_HELP}\n\n${FAULT_FLAGS_HELP}`,
    run: async (ctx) => await (await import('./commands/simulate.ts')).simulateCommand.run(ctx)
  },
  {
    name: 'testnet',
    summary: 'P peer processes on loopback over libp2p, with live progress and a summary',
    usage: `codenet testnet [training options] [start faults] [--keep] [--json FILE] [--export-weights FILE] [--dashboard] [--dashboard-port P] [--report DIR] [--replay FILE] [--processes N] [--quiet]
       codenet testnet down

  --keep                run in the background and stay up after training (status, fault, dashboard); stop with \`codenet testnet down\`
  --dashboard           serve the live dashboard on 127.0.0.1 (URL printed; any free port, or --dashboard-port P)
  --report DIR          write summary.json, history.jsonl and SVG plots of loss/accuracy with faults marked
  --replay FILE         inject the faults of a history.jsonl again, at the same steps and with the same seeds
  --round-timeout-ms T  passed to every peer
  --processes N         run the P peers in N processes (default: one per core, at most P); below P, each
                        process hosts several peers, every one still its own libp2p node with its own faults
  State folder: .codenet/testnet/ (or $CODENET_TESTNET_DIR).
  Without --error-rate, every peer gets \`fault soft-error --rate ${DEFAULT_SOFT_ERROR_RATE} --site matmul\` when training starts, so correction shows;
  --error-rate ε uses the training option instead (ε = 0: no soft errors).

Faults from the start (sent as \`codenet fault\` commands when training starts; in history.jsonl):
  --straggler I:MS          peer I waits MS ms before publishing each result (repeatable)
  --partition GROUPS        the halves only, for the whole run (6 peers: 0,1,2|3,4,5)
  --byzantine-peers K|L     K peers drawn from --seed, or the list L (1,4; one peer: 4,): coherently wrong results
  --lying-voters K|L        K peers (or L) lie in every vote (soft-error at site verdict, rate 1)
  --fault-site S            the one site of the start-of-training soft errors (matmul); with --error-rate ε,
                            every peer gets soft errors of rate ε at S instead of the job's own
  Refused on testnet (TCP streams; use codenet simulate): --drop-rate, --datagrams, --delay-ms,
  --delay-rate, --jitter-ms, --duplicate-rate, --reorder-rate, --corrupt-rate, --crash (use
  \`codenet fault crash --restart-after-s S\` on a --keep testnet). See docs/reliability.md.

${TRAINING_OPTIONS_HELP}`,
    run: async (ctx) => await (await import('./commands/testnet.ts')).testnetCommand.run(ctx)
  },
  {
    name: 'soak',
    summary: 'seeded nemesis: random soft, network and peer faults per seed, each run against its clean twin',
    usage: `codenet soak --seeds N [--from S] [--json FILE] [--steps K] [--peers P] [--model W0-W1-…] [--batch B] [--dataset D] [--jobs J] [--timeout-s T]

  --seeds N        how many seeds (required); seed s draws its faults from s alone
  --from S         first seed (1); \`--seeds 1 --from S\` replays seed S exactly
  --steps K        steps per run (50)
  --peers P        peers (6); at most f = ⌊(P − Q)/2⌋ of them are faulty at once
  --model, --batch, --dataset   the model (16-12-8-4), batch (8), data (synthetic)
  --jobs J         worker threads (1); 0: in this process, without the time limit
  --timeout-s T    a seed with no result after T s is an exception (120)
  --json FILE      every row (faults drawn in full, counters, distances) and the totals
  Each seed: soft errors, loss/delay/duplication/reordering/garbling, and up to f byzantine, lying,
  crashed, partitioned-off or straggling peers, drawn from the seed; the run and its clean twin
  (same seed, no faults). Row: outcome, silent, rollbacks, resyncs, repairs, accuracy vs clean,
  relative distance of the decoded W (dW) and b (dB) to the clean run's. Exit 1 when any seed had
  silent errors, an exception, or completed with dW or dB > 1e-9. See docs/reliability.md.`,
    run: async (ctx) => await (await import('./commands/soak.ts')).soakCommand.run(ctx)
  },
  {
    name: 'job',
    summary: 'codenet job init [training options] > job.json: write a job spec; codenet job admit: a ticket for one peer',
    usage: `codenet job init [training options] [--job-key FILE | --members ID,… | --open] > job.json
       codenet job admit --job job.json [--job-key FILE] PEER_ID > ticket.json

  Who may take part is part of the job (and of its hash):
  --job-key FILE          peers are admitted by tickets signed with this key (default: codenet-job.key,
                          created when missing, reused when present)
  --members ID,…          the peer ids that may take part (all P of them, or add --job-key for the rest)
  --open                  anyone who knows the job may take a seat (peers warn loudly)
  \`job admit\` signs a ticket for one peer id (\`codenet peer --print-id --data-dir D\` prints it);
  the peer passes it with \`codenet peer --ticket FILE\`.

${TRAINING_OPTIONS_HELP}`,
    run: async (ctx) => await (await import('./commands/job.ts')).jobCommand.run(ctx)
  },
  {
    name: 'peer',
    summary: 'run one peer of a job; finds the others by mDNS or --bootstrap',
    usage: `codenet peer --job FILE [--data-dir D] [--listen MA] [--bootstrap MA …] [--swarm-key F] [--json F] [--export-weights F]

  --job FILE              the job spec (codenet job init … > job.json)
  --ticket FILE           this peer's admission ticket (codenet job admit), when the job admits by key
  --print-id              print this data dir's peer id (created if new) and exit (for codenet job admit)
  --open                  listen beyond loopback without --swarm-key on purpose (otherwise a loud warning)
  --data-dir D            identity and checkpoints (codenet-peer-<job>); reuse it to restart the same peer
  --listen MA             listen address, repeatable (/ip4/0.0.0.0/tcp/0)
  --bootstrap MA          a peer to dial, with /p2p/<id>, repeatable (where mDNS is blocked)
  --no-mdns               do not discover peers by mDNS
  --swarm-key F           private network: only peers with the same key connect (@libp2p/pnet format)
  --json F                write the summary JSON when done
  --export-weights F      write the decoded weights when done
  --round-timeout-ms T    give up on a round after T ms (15000)
  --fault-rate ε          testing aid: this peer corrupts its own work with probability ε per operation
  --fault-kind K          ${ERROR_KINDS.join(' | ')} (${DEFAULT_SOFT_ERRORS.kind}); --fault-magnitude σ (${DEFAULT_SOFT_ERRORS.magnitude})
  --fault-site S          ${FAULT_SITES.join('|')}, repeatable (${DEFAULT_SOFT_ERRORS.site})
  --control-key F         obey signed fault commands from this Ed25519 public key (the testnet's);
                          without it every fault command is refused
  --dashboard PORT        serve the live dashboard for this peer on 127.0.0.1:PORT
  --quiet                 no progress on stderr`,
    run: async (ctx) => await (await import('./commands/peer.ts')).peerCommand.run(ctx)
  },
  {
    name: 'host',
    summary: 'several peers in one process (the testnet launcher\'s, with --processes N)',
    usage: `codenet host

  Reads one JSON object per line on stdin, {"slot": k, "argv": [peer flags]}, and runs
  \`codenet peer <peer flags>\` for each in this process, each its own libp2p node. Every line a
  peer prints comes out as \`@k <line>\`, its end as \`@k !exit <code>\`. Ends when stdin closes
  and no peer runs. Used by \`codenet testnet --processes N\`; not needed by hand.`,
    run: async (ctx) => await (await import('./commands/host.ts')).hostCommand.run(ctx)
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
    usage: faultUsage(),
    run: async (ctx) => await (await import('./commands/fault.ts')).faultCommand.run(ctx)
  },
  {
    name: 'evaluate',
    summary: 'accuracy and confusion matrix of a weights file (JSON or safetensors) on a test split',
    usage: `codenet evaluate --weights FILE [--dataset D] [--test PATH | --test-split F] [--label-column C] [--normalize M] [--seed N] [--json] [--quiet]

  --weights FILE        a weights export: JSON or safetensors (told apart by its bytes)
  --dataset D           mnist | synthetic | csv:PATH | idx:IMAGES,LABELS (mnist)
  --test, --test-split, --label-column, --normalize
                        as for training: give the flags the model was trained with, so the same
                        rows are held out, the same class names and normalisation apply
  --seed N              synthetic only: the seed of the task (1)
  --json                one JSON object: accuracy, samples, classes, confusion matrix
  Rows of the confusion matrix are the true classes, columns the predictions.`,
    run: async (ctx) => await (await import('./commands/evaluate.ts')).evaluateCommand.run(ctx)
  },
  {
    name: 'bench',
    summary: 'benchmarks, each a ratio against its baseline measured in the same run',
    usage: `codenet bench gemm|codes|exchange|step|scaling|paper|training [--json FILE] [--quick] [options]

  gemm       GFLOP/s of the WASM SIMD and JS kernels beside single-thread OpenBLAS (numpy, when
             python3 has it) and ml-matrix, interleaved; target ≥ 0.30× OpenBLAS median
  codes      encode/decode/detect/audit/repair/update time as multiples of the peer's own GEMM;
             the issue's targets at width 784, 512, 1024 (--batch B, 16)
  exchange   median all-to-all round time among P processes (--peers P, 6): libp2p result exchange
             vs raw TCP, same frames, interleaved; --only libp2p|raw; --cpu-prof DIR --transport tcp|quic
  step       CPU per step of a local testnet (all peers) vs simulate with the same options, per P
             (--peers 4,6,8); target ≤ 3×; a peer's step split into maths and protocol (protocol ≤
             maths); training options as simulate (default: the default recipe, MNIST 784-256-128-10
             batch 64, with --steps 150 --error-rate 0); --cpu-prof DIR profiles every peer and
             summarises one
  scaling    testnet step time, CPU and bytes per step against P (--peers 4,6,8,12, --steps 100, the
             default model) and against width W of a W-W-10 model on synthetic data (--widths
             128,256,512,1024,2048, --width-peers 6, --width-steps 40), beside the expected growth;
             --peers none or --widths none skips that axis; --batch B (16); --svg FILE plots both
  paper      codenet vs replication (r = 3: the same storage per peer) vs uncoded on a local testnet
             at soft-error rates 0, 1e-3, 1e-2, 5e-2 (gaussian) and 1e-2 (bit flips), one run at a
             time, each also in simulate for 'silent': time to the clean accuracy, rollbacks,
             repairs, bytes; --svg DIR plots accuracy against wall time per error kind; --peers P
             (6), --seed S (1), --steps N (the recipe's run), --strategy a,b; --quick: 60 steps, ε 0
             and 1e-2
  training   CPU per training step of codenet (the default code for P) and replication against
             uncoded, in simulate (every peer decoding by itself), runs alternating uncoded, codenet,
             replication for R repeats (--repeats R, 5), medians: all peers and per peer, wall, the
             ratios beside the GEMM share the code predicts, final loss and accuracy, and the decoded
             models' distance from uncoded's (exit 1 if over 1e-6); --peers P (6), --strategy with
             uncoded (all three), training options as simulate (default: the default recipe with
             --steps 60 --error-rate 0); --quick: synthetic 128-64-10, batch 16, 20 steps, R = 2
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

/**
 * Any error no command turned into a message of its own: one line, `codenet <cmd>: <name>:
 * <message>`, and exit 1. The stack only with CODENET_DEBUG=1 (testnet/bin.js does the same for
 * errors thrown outside a command: uncaught exceptions, unhandled rejections).
 */
export function reportFailure (prefix: string, err: unknown, stderr: NodeJS.WritableStream): number {
  const e = err instanceof Error ? err : new Error(String(err))
  const message = e.message.split('\n').map(l => l.trim()).filter(l => l !== '').join(' ')
  stderr.write(`${prefix}: ${e.name}: ${message.length > 1000 ? `${message.slice(0, 1000)}…` : message}\n`)
  if (process.env.CODENET_DEBUG === '1' && e.stack !== undefined) stderr.write(`${e.stack}\n`)
  return 1
}

export async function main (argv: string[], io: { stdout?: NodeJS.WritableStream, stderr?: NodeJS.WritableStream, hosted?: HostedPeer } = {}): Promise<number> {
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
    return await cmd.run({ argv: rest, stdout, stderr, ...(io.hosted !== undefined ? { hosted: io.hosted } : {}) })
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      stderr.write(`codenet ${name}: ${err.message}\nRun 'codenet ${name} --help' for usage.\n`)
      return 2
    }
    // Malformed or mismatched data: one line naming the file and the place, no usage (the flags were fine).
    if (err instanceof DatasetError) {
      stderr.write(`codenet ${name}: ${err.message}\n`)
      return 2
    }
    return reportFailure(`codenet ${name}`, err, stderr)
  }
}
