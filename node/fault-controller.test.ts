import { describe, it, expect } from 'vitest'
import { createFaultController, partitionBlocks, CRASH_EXIT_CODE } from './fault-controller.ts'
import { generateControlKey, signControlRequest } from './control-auth.ts'
import { parseFaultCommand } from '../protocols/fault-command.ts'
import { noFaults } from '../training/soft-errors.ts'
import type { ControlRequest } from '../protocols/control.ts'
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

describe('the fault controller', () => {
  const call = (fc: ReturnType<typeof createFaultController>, req: ControlRequest): unknown => fc.handlers[req.type](req)

  it('obeys only commands signed with its key', () => {
    const fc = createFaultController({ authorisedKey: key.publicKey, exit: () => {} })
    const other = generateControlKey()
    expect(() => call(fc, signControlRequest(other.privateKey, 'fault', { kind: 'pause', seed: 1 }))).toThrow(/does not obey/)
    expect(() => call(fc, { v: 1, type: 'fault', id: '1', body: { kind: 'pause', seed: 1 } })).toThrow(/not signed/)
    expect(fc.activeKinds()).toEqual([])
    call(fc, signControlRequest(key.privateKey, 'fault', { kind: 'pause', seed: 1 }))
    expect(fc.activeKinds()).toEqual(['pause'])
    call(fc, signControlRequest(key.privateKey, 'fault-clear', {}))
    expect(fc.activeKinds()).toEqual([])
    expect(fc.counters).toMatchObject({ commandsAccepted: 2, commandsRefused: 2 })
    const none = createFaultController({ authorisedKey: null, exit: () => {} })
    expect(() => call(none, signControlRequest(key.privateKey, 'fault', { kind: 'pause', seed: 1 }))).toThrow(/obeys no control key/)
  })

  it('crash exits with the crash code after answering', async () => {
    let code = -1
    const fc = createFaultController({ authorisedKey: key.publicKey, exit: (c) => { code = c } })
    expect(call(fc, signControlRequest(key.privateKey, 'fault', { kind: 'crash', seed: 1 }))).toMatchObject({ applied: 'crash' })
    expect(code).toBe(-1)
    await sleep(300)
    expect(code).toBe(CRASH_EXIT_CODE)
  })

  it('byzantine results are offset the same way every round; soft errors follow their seed', () => {
    const fc = createFaultController({ authorisedKey: key.publicKey, exit: () => {} })
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
    const fc = createFaultController({ authorisedKey: key.publicKey, exit: () => {} })
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
    const fc = createFaultController({ authorisedKey: key.publicKey, exit: () => {} })
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
