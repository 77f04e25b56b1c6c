/**
 * `codenet fault <kind> [--peer I|all] [options] [--seed N]`, `codenet fault clear [--peer I|all]`
 *
 * Signs the command with the running testnet's control key once per target peer, for that
 * peer's id, the testnet's job and the boot nonce its status answers (peers obey only that key,
 * and only commands bound to themselves, their job and their current boot; a refusal is printed
 * with its reason, exit 1), and sends it over the control protocol; records it in the testnet's
 * history.jsonl with time, target, parameters and seed (testnet/fault-history.ts), so
 * `codenet testnet --replay FILE` can run the same faults again. Flags, their ranges, defaults
 * and the kinds that take them: the parameter table of testnet/fault-params.ts. A crash's
 * restart intent goes to the launcher (the state folder) before the command is sent.
 */
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { requireRunning, testnetPaths, TestnetStateError } from '../state.ts'
import { createControlClient } from '../control-client.ts'
import { loadControlPrivateKey, ControlAuthError } from '../../node/control-auth.ts'
import { crashIntentFile, injectFault } from '../fault-history.ts'
import { checkPeerIndices, faultFromFlags, FaultUsageError, FAULT_FLAG_OPTIONS, FAULT_KINDS_AND_CLEAR, type FaultFlags, type FaultRequest } from '../fault-params.ts'
import { FaultCommandError } from '../../protocols/fault-command.ts'

/** Bad input → a UsageError: one line, exit 2. */
function usage<T> (fn: () => T): T {
  try { return fn() } catch (err) {
    if (err instanceof FaultUsageError || err instanceof FaultCommandError || err instanceof ControlAuthError) throw new UsageError(err.message)
    throw err
  }
}

async function run (ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(ctx.argv, FAULT_FLAG_OPTIONS, true)
  if (positionals.length !== 1) throw new UsageError(`give one fault kind: ${FAULT_KINDS_AND_CLEAR.join('|')}`)
  const { json, ...rest } = values as Record<string, string | boolean | undefined>
  // Kind, flags and values first: bad input is refused whether or not a testnet runs.
  const req: FaultRequest = usage(() => faultFromFlags(positionals[0], rest as FaultFlags, null))
  for (const w of req.warnings) ctx.stderr.write(`codenet fault: ${w}\n`)
  const paths = testnetPaths()
  let state
  try { state = requireRunning(paths) } catch (err) {
    if (err instanceof TestnetStateError) { ctx.stderr.write(`codenet fault: ${err.message}\n`); return 1 }
    throw err
  }
  const st = state
  const key = usage(() => { checkPeerIndices(req, st.peers.length); return loadControlPrivateKey(paths.key) })
  const { kind, target, cmd } = req
  const client = await createControlClient({ key })
  try {
    const r = await injectFault({
      client, key, state, historyFile: paths.history, intentFile: crashIntentFile(paths.dir), target, kind, cmd, launcher: req.launcher, step: state.monitor?.step ?? null
    })
    if (json === true) ctx.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      ctx.stdout.write(`${kind} → ${target === 'all' ? 'all peers' : `peer ${target}`}${cmd !== null ? ` (seed ${cmd.seed})` : ''}: delivered to [${r.entry.delivered.join(', ')}]\n`)
      for (const x of r.replies.filter(x => !x.ok)) ctx.stdout.write(`  peer ${x.peer}: ${x.message}\n`)
    }
    return r.replies.every(x => x.ok) ? 0 : 1
  } catch (err) {
    if (err instanceof FaultUsageError) { ctx.stderr.write(`codenet fault: ${err.message}\n`); return 1 }
    throw err
  } finally {
    await client.stop().catch(() => {})
  }
}

export const faultCommand: Command = {
  ...describeCommand('fault'),
  run
}
