/**
 * `codenet fault <kind> [--peer I|all] [options] [--seed N]`, `codenet fault clear [--peer I|all]`
 *
 * Signs the command with the running testnet's control key and sends it to the target peers
 * over the control protocol (peers obey only that key); records it in the testnet's
 * history.jsonl with time, target, parameters and seed (testnet/faults.ts), so
 * `codenet testnet --replay FILE` can run the same faults again.
 */
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { requireRunning, testnetPaths, TestnetStateError } from '../state.ts'
import { createControlClient } from '../control-client.ts'
import { loadControlPrivateKey, ControlAuthError } from '../../node/control-auth.ts'
import { faultFromFlags, injectFault, parseTarget, FaultUsageError, FAULT_KINDS_AND_CLEAR, type FaultKindOrClear } from '../faults.ts'
import { FaultCommandError } from '../../node/faults.ts'

async function run (ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseFlags(ctx.argv, {
    peer: { type: 'string' },
    rate: { type: 'string' },
    kind: { type: 'string' },
    magnitude: { type: 'string' },
    step: { type: 'string' },
    'delay-ms': { type: 'string' },
    'restart-after-s': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' }
  }, true)
  if (positionals.length !== 1) throw new UsageError(`give one fault kind: ${FAULT_KINDS_AND_CLEAR.join('|')}`)
  const kind = positionals[0]
  const paths = testnetPaths()
  let state
  try { state = requireRunning(paths) } catch (err) {
    if (err instanceof TestnetStateError) { ctx.stderr.write(`codenet fault: ${err.message}\n`); return 1 }
    throw err
  }
  const { peer, json, ...flags } = values
  let cmd, target, key
  try {
    cmd = faultFromFlags(kind, flags, state.peers.length)
    target = parseTarget(peer, state.peers.length)
    key = loadControlPrivateKey(paths.key)
  } catch (err) {
    if (err instanceof FaultUsageError || err instanceof FaultCommandError || err instanceof ControlAuthError) throw new UsageError(err.message)
    throw err
  }
  const client = await createControlClient()
  try {
    const r = await injectFault({ client, key, state, historyFile: paths.history, target, kind: kind as FaultKindOrClear, cmd, step: state.monitor?.step ?? null })
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
