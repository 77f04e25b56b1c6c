import { describe, it, expect, afterAll, beforeAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, type CodenetHost } from '../node/peer.ts'
import fc from 'fast-check'
import { CONTROL_PROTOCOL, controlRequest, controlStreamHandler, ControlError, readMessage, parseRequest, parseResponse, MAX_CONTROL_ERROR } from './control.ts'

describe('control protocol', () => {
  let server: CodenetHost
  let client: CodenetHost
  beforeAll(async () => {
    server = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    client = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    await server.handle(CONTROL_PROTOCOL, controlStreamHandler({ status: () => ({ step: 42, peers: [1, 2, 3] }) }))
  })
  afterAll(async () => { await client.stop(); await server.stop() })
  const dial = async (protocol: string, o: { signal: AbortSignal }) => await client.dialProtocol(server.getMultiaddrs()[0], protocol, o)

  it('answers status', async () => {
    expect(await controlRequest(dial, 'status')).toEqual({ step: 42, peers: [1, 2, 3] })
  })

  it('refuses a command it has no handler for cleanly', async () => {
    await expect(controlRequest(dial, 'fault', { kind: 'crash' })).rejects.toThrow(/unsupported/)
  })

  it('answers garbage and oversized requests with an error, and keeps serving', async () => {
    const s = await dial(CONTROL_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    const junk = new Uint8Array(12); new DataView(junk.buffer).setUint32(0, 8); junk.set([1, 2, 3, 4, 5, 6, 7, 8], 4)
    s.send(junk)
    const res = await readMessage(s, 1 << 20, AbortSignal.timeout(5000)) as any
    expect(res.ok).toBe(false)
    const s2 = await dial(CONTROL_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    const big = new Uint8Array(4); new DataView(big.buffer).setUint32(0, 10_000_000)
    s2.send(big)
    const res2 = await readMessage(s2, 1 << 20, AbortSignal.timeout(5000)) as any
    expect(res2.ok).toBe(false)
    expect(res2.error).toMatch(/exceeds/)
    expect(await controlRequest(dial, 'status')).toEqual({ step: 42, peers: [1, 2, 3] })
    expect(ControlError).toBeDefined()
  })
})

describe('control envelopes', () => {
  const req = { v: 1, type: 'fault', id: '1700000000000.abcd', body: { kind: 'pause', seed: 1 }, signer: 'AAAA', signature: 'BBBB' }

  it('accept well-formed requests (signed or not) and drop unknown fields', () => {
    expect(parseRequest(req)).toEqual(req)
    expect(parseRequest({ v: 1, type: 'status', id: 'x' })).toEqual({ v: 1, type: 'status', id: 'x' })
    expect(parseRequest({ ...req, extra: 1 })).toEqual(req)
    // A bound command: the peer, job and boot it is for, and its lifetime.
    const bound = { ...req, target: { peer: '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', job: 'a'.repeat(64), boot: '0'.repeat(32) }, issuedAt: 1_700_000_000_000, expiresAt: 1_700_000_030_000 }
    expect(parseRequest(bound)).toEqual(bound)
  })

  it.each([
    [{ ...req, v: 2 }, /unsupported control version 2/],
    [{ ...req, v: '1' }, /version/],
    [{ ...req, type: undefined }, /type/],
    [{ ...req, type: 't'.repeat(65) }, /type/],
    [{ ...req, id: 42 }, /id/],
    [{ ...req, id: 'i'.repeat(129) }, /id/],
    [{ ...req, signer: 7 }, /signer/],
    [{ ...req, signature: 's'.repeat(1025) }, /signature/],
    [{ ...req, target: { peer: 'not a peer id', job: 'j', boot: 'b' } }, /target\.peer/],
    [{ ...req, target: { peer: '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', job: 'j' } }, /target\.boot/],
    [{ ...req, target: { peer: '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', job: 'j', boot: 'b'.repeat(65) } }, /target\.boot/],
    [{ ...req, issuedAt: -1 }, /issuedAt/],
    [{ ...req, expiresAt: 1.5 }, /expiresAt/],
    [[req], /JSON object/],
    [null, /JSON object/],
    ['status', /JSON object/]
  ])('refuse a malformed request %#', (v, message) => {
    expect(() => parseRequest(v)).toThrow(ControlError)
    expect(() => parseRequest(v)).toThrow(message)
  })

  it('responses: the body of an ok answer to this request, else a ControlError', () => {
    expect(parseResponse({ v: 1, id: 'a', ok: true, body: { step: 1 } }, 'a', 'status')).toEqual({ step: 1 })
    expect(() => parseResponse({ v: 1, id: 'a', ok: false, error: 'no' }, 'a', 'fault')).toThrow(/peer refused 'fault': no/)
    expect(() => parseResponse({ v: 1, id: 'b', ok: true, body: 1 }, 'a', 'status')).toThrow(/does not answer/)
    expect(() => parseResponse({ v: 1, id: 'a', ok: 'yes', body: 1 }, 'a', 'status')).toThrow(/malformed control response/)
    expect(() => parseResponse({ v: 1, id: 'a', ok: false }, 'a', 'status')).toThrow(/malformed/)
    expect(() => parseResponse({ v: 1, id: 'a', ok: false, error: 'e'.repeat(MAX_CONTROL_ERROR + 1) }, 'a', 'status')).toThrow(/malformed/)
    expect(() => parseResponse(null, 'a', 'status')).toThrow(ControlError)
  })

  it('never throw anything but ControlError', () => {
    fc.assert(fc.property(fc.anything(), v => {
      try { parseRequest(v) } catch (err) { expect(err).toBeInstanceOf(ControlError) }
      try { parseResponse(v, 'a', 'status') } catch (err) { expect(err).toBeInstanceOf(ControlError) }
    }))
  })
})
