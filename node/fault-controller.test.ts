import { describe, it, expect } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFaultController, partitionBlocks, CRASH_EXIT_CODE, REFUSAL_PRINT_INTERVAL_MS, type FaultController, type FaultControllerOptions } from './fault-controller.ts'
import { generateControlKey, signControlRequest, ControlAuthError, MAX_CLOCK_SKEW_MS } from './control-auth.ts'
import { REPLAY_MEMORY_FILE } from './replay-memory.ts'
import { parseFaultCommand } from '../protocols/fault-command.ts'
import { controllerStatusSchema } from '../protocols/status.ts'
import { noFaults } from '../training/soft-errors.ts'
import type { ControlRequest, ControlTarget } from '../protocols/control.ts'
import type { Exchange, RoundKey } from '../training/exchange.ts'
import { zeros } from '../codes/matrix.ts'

const key = generateControlKey()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A 3-peer exchange where every published payload is delivered at once. */
function loopback (self: number, peers = 3): Exchange & { sent: Array<{ key: RoundKey, to?: readonly number[] }>, incoming: Map<string, Map<number, any>> } {
  const sent: Array<{ key: RoundKey, to?: readonly number[] }> = []
  const incoming = new Map<string, Map<number, any>>()
  return {
    self, peers, sent, incoming,
    async publish (key, _p, to) { sent.push({ key, to }) },
    async collect (key) {
      const results = new Map(incoming.get(`${key.step}/${key.phase}`) ?? [])
      return { results, arrivalMs: new Map([...results.keys()].map(k => [k, 1])), timedOut: false }
    },
    prune () {},
    positions: () => [],
    heard: 0
  }
}

describe('fault commands', () => {
  it('validates bodies', () => {
    expect(parseFaultCommand({ kind: 'straggler', seed: 1, delayMs: 10 }).delayMs).toBe(10)
    expect(() => parseFaultCommand({ kind: 'meteor', seed: 1 })).toThrow(/unknown fault kind/)
    expect(() => parseFaultCommand({ kind: 'soft-error', seed: 1, rate: 2 })).toThrow(/rate/)
    expect(() => parseFaultCommand({ kind: 'partition', seed: 1, from: 1 })).toThrow(/both/)
    expect(() => parseFaultCommand({ kind: 'pause', seed: -1 })).toThrow(/seed/)
    expect(() => parseFaultCommand('x')).toThrow()
  })
  it('partitions: a cut link or halves', () => {
    expect([...partitionBlocks({ from: 0, to: 2 }, 0, 4)]).toEqual([2])
    expect([...partitionBlocks({ from: 0, to: 2 }, 2, 4)]).toEqual([0])
    expect([...partitionBlocks({ from: 0, to: 2 }, 1, 4)]).toEqual([])
    expect([...partitionBlocks({}, 0, 5)].sort()).toEqual([3, 4])
    expect([...partitionBlocks({}, 4, 5)].sort()).toEqual([0, 1, 2])
  })
})

const JOB = 'f'.repeat(64)
const peerId = (c: string): string => `12D3KooW${c.repeat(44)}`
const [A, B, C] = [peerId('A'), peerId('B'), peerId('C')]

/** A controller of the job JOB, bound to `peer` (its engine started). */
async function started (peer: string, opts: Partial<FaultControllerOptions> = {}): Promise<FaultController> {
  const fc = createFaultController({ authorisedKey: key.publicKey, job: JOB, dataDir: null, exit: () => {}, ...opts })
  await fc.bind(peer)
  return fc
}
/** What a signer reads from that peer's status: its peer id, its job, its boot. */
const targetOf = (fc: FaultController, peer: string): ControlTarget => ({ peer, job: JOB, boot: fc.status().boot as string })
const call = async (fc: FaultController, req: ControlRequest): Promise<unknown> => await fc.handlers[req.type](req)
/** The refusal reason of a command, or 'ok'. */
async function outcome (fc: FaultController, req: ControlRequest): Promise<string> {
  try { await call(fc, req) } catch (err) {
    expect(err).toBeInstanceOf(ControlAuthError)
    return (err as ControlAuthError).reason ?? 'no reason'
  }
  return 'ok'
}
const pause = { kind: 'pause', seed: 1 }

describe('the fault controller', () => {
  it('obeys only commands signed with its key, once it knows its peer id', async () => {
    const early = createFaultController({ authorisedKey: key.publicKey, job: JOB, dataDir: null, exit: () => {} })
    await expect(call(early, signControlRequest(key.privateKey, 'fault', pause, { peer: A, job: JOB, boot: early.boot }))).rejects.toThrow(/still starting/)
    const fc = await started(A)
    const other = generateControlKey()
    await expect(call(fc, signControlRequest(other.privateKey, 'fault', pause, targetOf(fc, A)))).rejects.toThrow(/does not obey/)
    await expect(call(fc, { v: 1, type: 'fault', id: '1', body: pause })).rejects.toThrow(/not signed/)
    expect(fc.activeKinds()).toEqual([])
    await call(fc, signControlRequest(key.privateKey, 'fault', pause, targetOf(fc, A)))
    expect(fc.activeKinds()).toEqual(['pause'])
    await call(fc, signControlRequest(key.privateKey, 'fault-clear', {}, targetOf(fc, A)))
    expect(fc.activeKinds()).toEqual([])
    expect(fc.counters).toMatchObject({ commandsAccepted: 2, commandsRefused: 2 })
    const none = await started(A, { authorisedKey: null })
    await expect(call(none, signControlRequest(key.privateKey, 'fault', pause, targetOf(none, A)))).rejects.toThrow(/obeys no control key/)
  })

  it('crash exits with the crash code after answering', async () => {
    let code = -1
    const fc = await started(A, { exit: (c) => { code = c } })
    expect(await call(fc, signControlRequest(key.privateKey, 'fault', { kind: 'crash', seed: 1 }, targetOf(fc, A)))).toMatchObject({ applied: 'crash' })
    expect(code).toBe(-1)
    await sleep(300)
    expect(code).toBe(CRASH_EXIT_CODE)
  })

  it('cross-peer replay: a command signed for peer A is refused by peer B', async () => {
    const a = await started(A)
    const b = await started(B)
    const req = signControlRequest(key.privateKey, 'fault', pause, targetOf(a, A))
    await expect(call(b, req)).rejects.toThrow(/is for peer 12D3KooWAAAA…, not this peer \(12D3KooWBBBB…\)/)
    expect(b.activeKinds()).toEqual([])
    expect(b.status()).toMatchObject({ counters: { commandsRefused: 1, commandsAccepted: 0 }, refused: { 'wrong-peer': 1 } })
    expect(await outcome(a, req)).toBe('ok')
  })

  it('same-boot replay across peers: what one peer obeyed, or refused as a replay, no other obeys', async () => {
    const [a, b, c] = await Promise.all([started(A), started(B), started(C)])
    const req = signControlRequest(key.privateKey, 'fault', pause, targetOf(a, A))
    expect(await outcome(a, req)).toBe('ok')
    expect(await outcome(a, req)).toBe('replayed')
    expect(await outcome(b, req)).toBe('wrong-peer')
    expect(await outcome(c, req)).toBe('wrong-peer')
    expect([b.activeKinds(), c.activeKinds()]).toEqual([[], []])
    // Two copies arriving together: one is obeyed, the other is a replay.
    const clear = signControlRequest(key.privateKey, 'fault-clear', {}, targetOf(a, A))
    expect((await Promise.all([outcome(a, clear), outcome(a, clear)])).sort()).toEqual(['ok', 'replayed'])
  })

  it('post-restart replay: a captured crash is refused by the restarted peer (new boot), and by a peer it was never for', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'codenet-fc-'))
    let exits = 0
    const before = await started(A, { dataDir, exit: () => { exits++ } })
    const crash = signControlRequest(key.privateKey, 'fault', { kind: 'crash', seed: 1 }, targetOf(before, A))
    expect(await outcome(before, crash)).toBe('ok')
    await sleep(300)
    expect(exits).toBe(1)
    // The peer restarts with the same data dir and peer id: a new boot nonce.
    const after = await started(A, { dataDir, exit: () => { exits++ } })
    expect(after.boot).not.toBe(before.boot)
    await expect(call(after, crash)).rejects.toThrow(/another boot of this peer/)
    expect(await outcome(await started(B, { exit: () => { exits++ } }), crash)).toBe('wrong-peer')
    await sleep(300)
    expect(exits).toBe(1)
    expect(after.status().refused).toEqual({ 'stale-boot': 1 })
  })

  it('the replay memory survives a restart in the data dir, and nothing is obeyed unless recorded first', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'codenet-fc-'))
    // A restart that kept the boot nonce: only the memory on disk stands between the envelope and a second obedience.
    const first = await started(A, { dataDir, boot: 'b0' })
    const req = signControlRequest(key.privateKey, 'fault', pause, targetOf(first, A))
    expect(await outcome(first, req)).toBe('ok')
    expect(JSON.parse(readFileSync(join(dataDir, REPLAY_MEMORY_FILE), 'utf8')).ids.map((e: [string, number]) => e[0])).toEqual([req.id])
    const again = await started(A, { dataDir, boot: 'b0' })
    await expect(call(again, req)).rejects.toThrow(/replayed/)
    expect(again.activeKinds()).toEqual([])
    // A data dir the memory cannot be written to: the command is refused, not obeyed.
    const file = join(dataDir, 'not-a-dir')
    writeFileSync(file, 'x')
    const unwritable = await started(A, { dataDir: file })
    await expect(call(unwritable, signControlRequest(key.privateKey, 'fault', pause, targetOf(unwritable, A)))).rejects.toThrow(/cannot record the command/)
    expect(unwritable.activeKinds()).toEqual([])
  })

  it('refuses a command for another job, and an expired one', async () => {
    let now = 1_800_000_000_000
    const fc = await started(A, { now: () => now })
    expect(await outcome(fc, signControlRequest(key.privateKey, 'fault', pause, { ...targetOf(fc, A), job: 'e'.repeat(64) }, { now }))).toBe('wrong-job')
    const late = signControlRequest(key.privateKey, 'fault', pause, targetOf(fc, A), { now, lifetimeMs: 5000 })
    now += 5000 + MAX_CLOCK_SKEW_MS + 1000
    await expect(call(fc, late)).rejects.toThrow(/command expired 31 s ago/)
    expect(fc.activeKinds()).toEqual([])
    expect(fc.status().refused).toEqual({ 'wrong-job': 1, expired: 1 })
  })

  it('publishes its boot and refusals in the status; prints refusals at most once per interval', async () => {
    let now = 1_800_000_000_000
    const lines: string[] = []
    const fc = await started(A, { now: () => now, print: l => { lines.push(l) } })
    const st = fc.status()
    expect(st.boot).toMatch(/^[0-9a-f]{32}$/)
    expect(controllerStatusSchema.parse(st)).toEqual(st)
    const forB = signControlRequest(key.privateKey, 'fault', pause, { ...targetOf(fc, A), peer: B }, { now })
    for (let i = 0; i < 5; i++) await outcome(fc, forB)
    expect(lines).toEqual([expect.stringMatching(/^refused control command 'fault': command is for peer 12D3KooWBBBB…/)])
    now += REFUSAL_PRINT_INTERVAL_MS
    await outcome(fc, forB)
    expect(lines[1]).toMatch(/\(4 more refused since the last report\)$/)
    expect(fc.status()).toMatchObject({ counters: { commandsRefused: 6 }, refused: { 'wrong-peer': 6 } })
  })

  it('byzantine results are offset the same way every round; soft errors follow their seed', () => {
    const fc = createFaultController({ authorisedKey: key.publicKey, job: JOB, dataDir: null, exit: () => {} })
    const inj = fc.wrapInjector(noFaults())
    fc.apply({ kind: 'byzantine', seed: 3, magnitude: 1 })
    const a = new Float64Array(8); const b = new Float64Array(8)
    expect(inj.inject('matmul', a, { peer: 0, step: 1, attempt: 0, layer: 0, tag: 'forward' })).toBe(true)
    expect(inj.inject('matmul', b, { peer: 0, step: 9, attempt: 2, layer: 0, tag: 'forward' })).toBe(true)
    expect([...a]).toEqual([...b])
    expect(a.some(x => x !== 0)).toBe(true)
    expect(inj.inject('activation', new Float64Array(8), { peer: 0, step: 1, attempt: 0, layer: 0 })).toBe(false)
    expect(inj.injected).toBe(2)
    fc.clear()
    fc.apply({ kind: 'soft-error', seed: 5, rate: 1, site: 'any' })
    const c = new Float64Array(4)
    expect(inj.inject('decode', c, { peer: 0, step: 1, attempt: 0, layer: 1 })).toBe(true)
    expect(inj.injected).toBe(3)
  })

  it('partition: no results to or from the cut peers; missing results are counted', async () => {
    const fc = createFaultController({ authorisedKey: key.publicKey, job: JOB, dataDir: null, exit: () => {} })
    const inner = loopback(0)
    fc.joined({ members: [1, 2, 3] as any, self: 0, resultsProtocol: '/x', dialProtocol: async () => { throw new Error('no') } })
    const ex = fc.wrapExchange(inner)
    fc.apply({ kind: 'partition', seed: 1, from: 0, to: 2 })
    const k: RoundKey = { step: 1, layer: 0, phase: 'forward', attempt: 0 }
    await ex.publish(k, zeros(1, 1))
    expect(inner.sent[0].to).toEqual([1])
    inner.incoming.set('1/forward', new Map([[0, zeros(1, 1)], [1, zeros(1, 1)], [2, zeros(1, 1)]]))
    const c = await ex.collect(k, { threshold: 1, timeoutMs: 10 })
    expect([...c.results.keys()].sort()).toEqual([0, 1])
    expect((fc.status().missing as number[])).toEqual([0, 0, 1])
  })

  it('pause holds publishing until cleared; straggler delays it', async () => {
    const fc = createFaultController({ authorisedKey: key.publicKey, job: JOB, dataDir: null, exit: () => {} })
    const inner = loopback(0)
    const ex = fc.wrapExchange(inner)
    fc.apply({ kind: 'pause', seed: 1 })
    let done = false
    const p = ex.publish({ step: 1, layer: 0, phase: 'forward', attempt: 0 }, zeros(1, 1)).then(() => { done = true })
    await sleep(50)
    expect(done).toBe(false)
    fc.clear()
    await p
    expect(inner.sent).toHaveLength(1)
    fc.apply({ kind: 'straggler', seed: 1, delayMs: 60 })
    let sent = false
    const q = ex.publish({ step: 2, layer: 0, phase: 'forward', attempt: 0 }, zeros(1, 1)).then(() => { sent = true })
    await sleep(0)
    expect(sent).toBe(false)
    await q
    expect(inner.sent).toHaveLength(2)
    expect(fc.counters.delayedPublishes).toBe(1)
  })
})
