/**
 * `codenet status [--json] [--watch] [--interval-ms T]`: the running testnet's peers (index, peer
 * id, address, state online/joining/straggling/faulty/offline, step, last result, faults) with
 * loss, accuracy and fault totals.
 *
 * Live: every peer is asked over the control protocol (twice, a second apart, so the states say
 * what is happening now; testnet/snapshot.ts). Test accuracy, the timeline and totals that must
 * survive peer restarts come from the launcher's state.json. A finished, kept testnet (peers
 * gone) is shown from state.json and its summary. A peer whose answer is not a status document
 * (protocols/status.ts) is shown offline, with one line on stderr saying what was wrong.
 */
import type { Command, CommandContext } from '../cli.ts'
import { describeCommand, parseFlags, UsageError } from '../cli.ts'
import { requireRunning, testnetPaths, TestnetStateError, type TestnetState } from '../state.ts'
import { createControlClient, MalformedStatusError, RestrictedStatusError, type ControlClient } from '../control-client.ts'
import { formatRows, peerRows, totalsOf, networkPoint, type PeerRow, type Totals } from '../snapshot.ts'
import type { PeerStatus } from '../../protocols/status.ts'
import { existsSync, readFileSync } from 'node:fs'
import { loadControlPrivateKey, ControlAuthError } from '../../node/control-auth.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * Every peer's status; null for a peer that is down, unreachable or answered something that is
 * not a status (then `malformed(slot, reason)`).
 */
async function poll (client: ControlClient, state: TestnetState, malformed: (slot: number, reason: string) => void): Promise<Array<PeerStatus | null>> {
  return await Promise.all(state.peers.map(async p => {
    if (p.addresses.length === 0 || p.process === 'exited' || p.process === 'stopped') return null
    try { return await client.status(p.addresses[0], 2000) } catch (err) {
      if (err instanceof MalformedStatusError) malformed(p.slot, `a ${err.message}`)
      else if (err instanceof RestrictedStatusError) malformed(p.slot, 'only its phase and step: this client does not hold the testnet\'s control key')
      return null
    }
  }))
}

export interface StatusReport {
  testnet: { dir: string, pid: number, phase: string, startedAt: number, uptimeS: number, dashboardUrl: string | null, job: string }
  step: number | null
  totalSteps: number | null
  loss: number | null
  trainAccuracy: number | null
  testAccuracy: number | null
  totals: Totals
  peers: PeerRow[]
  events: { total: number, byType: Record<string, number> }
  summary: unknown
}

function report (dir: string, state: TestnetState, statuses: Array<PeerStatus | null> | null, before: Array<PeerStatus | null> | null): StatusReport {
  const live = statuses !== null && statuses.some(s => s !== null)
  const rows = live
    ? peerRows(state.peers.map(p => ({ slot: p.slot, peerId: p.peerId, address: p.addresses[0] ?? null, restarts: p.restarts, index: p.index })), statuses, before)
    : state.rows.map(r => ({ ...r, state: 'offline' as const }))
  const mon = state.monitor
  const restarts = state.peers.reduce((a, p) => a + p.restarts, 0)
  const liveTotals = live ? totalsOf(statuses, restarts) : null
  const totals = { ...(mon?.totals ?? { injected: 0, detected: 0, corrected: 0, uncorrectable: 0, rollbacks: 0, repairs: 0, restarts }) }
  if (liveTotals !== null) for (const k of Object.keys(totals) as Array<keyof Totals>) totals[k] = Math.max(totals[k], liveTotals[k])
  const point = live ? networkPoint(statuses, Date.now() - state.startedAt) : null
  const byType: Record<string, number> = {}
  for (const e of mon?.events ?? []) byType[e.type] = (byType[e.type] ?? 0) + e.count
  let summary: unknown = null
  if (state.phase === 'done' || state.phase === 'stopped') {
    try { summary = JSON.parse(readFileSync(`${dir}/summary.json`, 'utf8')) } catch {}
  }
  return {
    testnet: { dir, pid: state.pid, phase: state.phase, startedAt: state.startedAt, uptimeS: (Date.now() - state.startedAt) / 1000, dashboardUrl: state.dashboardUrl, job: state.job },
    step: point?.step ?? mon?.step ?? null,
    totalSteps: state.totalSteps,
    loss: point?.loss ?? mon?.loss ?? null,
    trainAccuracy: point?.trainAccuracy ?? mon?.trainAccuracy ?? null,
    testAccuracy: mon?.testAccuracy ?? null,
    totals,
    peers: rows,
    events: { total: mon?.events.length ?? 0, byType },
    summary
  }
}

function formatReport (r: StatusReport): string {
  const pct = (v: number | null): string => v === null ? '-' : `${(100 * v).toFixed(2)} %`
  const t = r.totals
  return [
    `testnet ${r.testnet.phase} (launcher pid ${r.testnet.pid}, up ${r.testnet.uptimeS.toFixed(0)} s, state ${r.testnet.dir})${r.testnet.dashboardUrl !== null ? `  dashboard ${r.testnet.dashboardUrl}` : ''}`,
    `step ${r.step ?? '-'}/${r.totalSteps ?? '-'}  loss ${r.loss === null ? '-' : r.loss.toFixed(4)}  train accuracy ${pct(r.trainAccuracy)}  test accuracy ${pct(r.testAccuracy)}`,
    `faults injected ${t.injected}, detected ${t.detected}, corrected ${t.corrected}, uncorrectable ${t.uncorrectable}; rollbacks ${t.rollbacks}, repairs ${t.repairs}, restarts ${t.restarts}`,
    '',
    formatRows(r.peers),
    ''
  ].join('\n')
}

async function run (ctx: CommandContext): Promise<number> {
  const { values } = parseFlags(ctx.argv, { json: { type: 'boolean' }, watch: { type: 'boolean' }, 'interval-ms': { type: 'string' } })
  const interval = values['interval-ms'] === undefined ? 2000 : Number(values['interval-ms'])
  if (!Number.isInteger(interval) || interval < 200) throw new UsageError(`--interval-ms must be a whole number ≥ 200, got '${values['interval-ms'] as string}'`)
  const paths = testnetPaths()
  let state: TestnetState
  try { state = requireRunning(paths) } catch (err) {
    if (err instanceof TestnetStateError) { ctx.stderr.write(`codenet status: ${err.message}\n`); return 1 }
    throw err
  }
  // The testnet's control key is the identity the peers show their full status to; without it
  // (a state folder from elsewhere) the peers answer phase and step only, shown as offline.
  let key
  if (existsSync(paths.key)) {
    try { key = loadControlPrivateKey(paths.key) } catch (err) {
      if (err instanceof ControlAuthError) { ctx.stderr.write(`codenet status: ${err.message}\n`); return 1 }
      throw err
    }
  }
  const client = await createControlClient(key !== undefined ? { key } : {})
  // One line per peer and reason, not one per poll.
  const said = new Set<string>()
  const malformed = (slot: number, reason: string): void => {
    const line = `codenet status: peer slot ${slot} (index ${state.peers.find(p => p.slot === slot)?.index ?? '?'}) answered ${reason}`
    if (!said.has(line)) { said.add(line); ctx.stderr.write(`${line}\n`) }
  }
  let stop = false
  const onInt = (): void => { stop = true }
  process.on('SIGINT', onInt)
  try {
    let before = await poll(client, state, malformed)
    for (;;) {
      await sleep(values.watch === true ? interval : 1000)
      try { state = requireRunning(paths) } catch (err) {
        if (err instanceof TestnetStateError) { ctx.stderr.write(`codenet status: ${err.message}\n`); return 1 }
        throw err
      }
      const now = await poll(client, state, malformed)
      const r = report(paths.dir, state, now, before)
      before = now
      if (values.json === true) ctx.stdout.write(`${JSON.stringify(r, null, values.watch === true ? 0 : 2)}\n`)
      else ctx.stdout.write(`${values.watch === true && (ctx.stdout as { isTTY?: boolean }).isTTY === true ? '\u001b[H\u001b[2J' : ''}${formatReport(r)}`)
      if (values.watch !== true || stop) return 0
    }
  } finally {
    process.off('SIGINT', onInt)
    await client.stop().catch(() => {})
  }
}

export const statusCommand: Command = {
  ...describeCommand('status'),
  run
}
