import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { parseHello, parseVerdict, encodeGossip, MAX_GOSSIP_BYTES, MAX_HELLO_ADDRS, MAX_HELLO_SEEN } from './gossip.ts'
import { helloFixture, verdictFixture, JOB_HASH, PEER_IDS } from './testing.ts'

/** Any JSON value as gossip bytes (malformed messages cannot be typed as Hello/Verdict). */
const raw = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const P = 3

describe('hello', () => {
  const h = helloFixture()
  const parse = (v: unknown): unknown => parseHello(raw(v), JOB_HASH, P)

  it('accepts a well-formed hello of its own job, and returns only its fields', () => {
    expect(parseHello(encodeGossip(h), JOB_HASH, P)).toEqual(h)
    expect(parse({ ...h, extra: 'ignored' })).toEqual(h)
    expect(parse({ ...h, seen: [], addrs: [] })).toEqual({ ...h, seen: [], addrs: [] })
    expect(parse({ ...h, step: 0, attempt: 0, done: true })).toMatchObject({ step: 0, done: true })
  })

  it.each([
    ['another job', { job: 'cd'.repeat(32) }],
    ['another type', { type: 'verdict' }],
    ['no peer', { peer: undefined }],
    ['a peer that is not a peer id', { peer: 'not a peer id!' }],
    ['a peer id too long', { peer: '1'.repeat(129) }],
    ['a negative step', { step: -1 }],
    ['a fractional step', { step: 1.5 }],
    ['a step as a string', { step: '3' }],
    ['an unsafe attempt', { attempt: 2 ** 60 }],
    ['ready not a boolean', { ready: 'yes' }],
    ['done missing', { done: undefined }],
    ['a seen entry not a peer id', { seen: ['x'] }],
    ['seen not an array', { seen: PEER_IDS[0] }],
    ['seen longer than MAX_HELLO_SEEN', { seen: Array.from({ length: MAX_HELLO_SEEN + 1 }, () => PEER_IDS[0]) }],
    ['a ticket that is not a signature', { ticket: 'abc' }],
    ['an address of 256 characters', { addrs: ['/'.repeat(256)] }],
    ['an address not a string', { addrs: [42] }],
    ['more than 32 addresses', { addrs: Array.from({ length: MAX_HELLO_ADDRS + 1 }, () => '/ip4/1.2.3.4/tcp/1') }]
  ])('drops a hello with %s', (_what, patch) => {
    expect(parse({ ...h, ...patch })).toBeNull()
  })

  it('drops what is not a JSON object, and anything over the size cap', () => {
    for (const v of [null, 42, 'hello', [h], true]) expect(parse(v)).toBeNull()
    expect(parseHello(new Uint8Array([0xff, 0x00]), JOB_HASH, P)).toBeNull()
    expect(parseHello(new Uint8Array(0), JOB_HASH, P)).toBeNull()
    const padded = raw({ ...h, pad: 'x'.repeat(MAX_GOSSIP_BYTES) })
    expect(parseHello(padded, JOB_HASH, P)).toBeNull()
  })

  it('never throws on arbitrary bytes or JSON', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), b => { expect(parseHello(b, JOB_HASH, P)).toBeNull() }))
    fc.assert(fc.property(fc.jsonValue(), v => { parse(v) }))
    fc.assert(fc.property(fc.record({ step: fc.anything(), seen: fc.anything(), addrs: fc.anything() }), patch => { parse({ ...h, ...patch }) }))
  })

  it('checks against the job and P it is asked about', () => {
    expect(parseHello(encodeGossip(h), 'other', P)).toBeNull()
    // A seen list longer than 2·P is not refused: the barrier keeps the admitted ids, at most 2·P.
    expect(parseHello(encodeGossip(h), JOB_HASH, 1)).toEqual(h)
    expect(parseHello(encodeGossip(h), JOB_HASH, P)).toEqual(h)
  })
})

describe('verdict', () => {
  const v = verdictFixture()
  const parse = (x: unknown): unknown => parseVerdict(raw(x), JOB_HASH, P)

  it('accepts a well-formed verdict of its own job', () => {
    expect(parseVerdict(encodeGossip(v), JOB_HASH, P)).toEqual(v)
    expect(parse({ ...v, rollback: true, flagged: [0, 1, 2], repaired: [1] })).toMatchObject({ rollback: true, flagged: [0, 1, 2] })
    expect(parse({ ...v, extra: [1, 2, 3] })).toEqual(v)
  })

  it.each([
    ['another job', { job: 'x' }],
    ['another type', { type: 'hello' }],
    ['a peer that is not a peer id', { peer: 42 }],
    ['a fractional step', { step: 0.5 }],
    ['a negative attempt', { attempt: -1 }],
    ['rollback not a boolean', { rollback: 0 }],
    ['a flagged index ≥ P', { flagged: [P] }],
    ['a negative repaired index', { repaired: [-1] }],
    ['a fractional index', { flagged: [1.5] }],
    ['more indices than P', { flagged: [0, 1, 2, 0] }],
    ['flagged not an array', { flagged: 1 }],
    ['repaired missing', { repaired: undefined }]
  ])('drops a verdict with %s', (_what, patch) => {
    expect(parse({ ...v, ...patch })).toBeNull()
  })

  it('never throws', () => {
    expect(parseVerdict(new Uint8Array(MAX_GOSSIP_BYTES + 1), JOB_HASH, P)).toBeNull()
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), b => { expect(parseVerdict(b, JOB_HASH, P)).toBeNull() }))
    fc.assert(fc.property(fc.jsonValue(), x => { parse(x) }))
  })
})
