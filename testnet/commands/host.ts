/**
 * `codenet host`: several peers in one process — each its own libp2p node with its own identity,
 * data dir, sockets and streams, talking to every other peer (in this process or not) over the
 * network exactly as a `codenet peer` process does. The testnet launcher uses it when a machine
 * has fewer cores than the testnet has peers (`codenet testnet --processes N`).
 *
 * Why: six peer processes on two cores are paced by the OS scheduler, and each process pays its
 * own V8 compiler and collector work. Peers sharing an event loop take turns at every await
 * instead, and share that work (docs/performance.md, "Several peers per process").
 *
 * Protocol (the launcher's, line by line; not a user interface):
 *   stdin   one JSON object per line, {"slot": k, "argv": [...]}: start `codenet peer argv` as
 *           slot k (again after a crash: the same data dir resumes from its checkpoint)
 *   stdout  every line a peer prints, as `@k <line>`; when a peer ends, `@k !exit <code>`
 * A crash command ends its peer alone (`codenet peer` exits with CRASH_EXIT_CODE for it). The
 * host ends when its stdin is closed and no peer runs; SIGTERM/SIGINT stop every peer (each
 * leaves as on its own signal) and then the host.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { describeCommand, main, UsageError, type Command, type CommandContext } from '../cli.ts'

export interface HostStart {
  slot: number
  argv: string[]
}

/** A start line, or null for a line that is not one (ignored, with a word on stderr). */
export function parseHostStart (line: string): HostStart | null {
  let v: unknown
  try { v = JSON.parse(line) } catch { return null }
  if (typeof v !== 'object' || v === null) return null
  const { slot, argv } = v as Record<string, unknown>
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot > 65535) return null
  if (!Array.isArray(argv) || argv.length > 1000 || !argv.every(a => typeof a === 'string')) return null
  return { slot, argv: argv as string[] }
}

/** The host's marker for a peer's end: `@k !exit <code>`. */
export const EXIT_MARK = '!exit '

/** A peer's output, one `@k ` prefixed line at a time, to the host's stdout. */
function prefixed (slot: number, out: NodeJS.WritableStream): Writable {
  let partial = ''
  return new Writable({
    write (chunk: Buffer | string, _enc, done) {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) out.write(`@${slot} ${l}\n`)
      done()
    },
    final (done) {
      if (partial !== '') out.write(`@${slot} ${partial}\n`)
      done()
    }
  })
}

async function run (ctx: CommandContext): Promise<number> {
  if (ctx.argv.length > 0) throw new UsageError(`takes no arguments (peers are started on stdin), got '${ctx.argv[0]}'`)
  const running = new Map<number, Promise<void>>()
  let inputEnded = false
  let stopping = false
  let finish: () => void = () => {}
  const finished = new Promise<void>(resolve => { finish = resolve })
  const maybeFinish = (): void => { if (running.size === 0 && (inputEnded || stopping)) finish() }
  // The peers listen for SIGTERM/SIGINT themselves (once each); the host keeps a listener of its
  // own so that a second signal cannot kill the process under peers still leaving.
  const onSignal = (): void => { stopping = true; maybeFinish() }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // One pair of signal listeners per hosted peer (a large testnet in few processes).
  process.setMaxListeners(0)

  const start = ({ slot, argv }: HostStart): void => {
    if (running.has(slot)) { ctx.stderr.write(`codenet host: slot ${slot} is running; start ignored\n`); return }
    const out = prefixed(slot, ctx.stdout)
    const p = (async () => {
      let code: number
      try {
        code = await main(['peer', ...argv], { stdout: out, stderr: out, hosted: { peers: () => running.size } })
      } catch (err) {
        // main() reports every failure itself; this is a last guard so one peer cannot end the host.
        out.write(`codenet peer: ${(err as Error).name}: ${(err as Error).message}\n`)
        code = 1
      }
      await new Promise<void>(resolve => out.end(resolve))
      ctx.stdout.write(`@${slot} ${EXIT_MARK}${code}\n`)
    })().finally(() => { running.delete(slot); maybeFinish() })
    running.set(slot, p)
  }

  // The peer command's modules (libp2p, the trainer) load while the launcher prepares the job.
  void import('./peer.ts').catch(() => {})
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    if (line.trim() === '') return
    const s = parseHostStart(line)
    if (s === null) { ctx.stderr.write('codenet host: ignored a line that is not {"slot": k, "argv": [...]}\n'); return }
    if (stopping) return
    start(s)
  })
  lines.on('close', () => { inputEnded = true; maybeFinish() })
  await finished
  lines.close()
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  // Every peer has stopped its node; should a library leave a timer behind, the host still ends
  // (the launcher waits for its hosts when it stops).
  setTimeout(() => { process.exit(0) }, 2000).unref()
  return 0
}

export const hostCommand: Command = {
  ...describeCommand('host'),
  run
}
