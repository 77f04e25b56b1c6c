import { describe, it, expect, afterAll, beforeAll } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, type CodenetHost } from '../node/peer.ts'
import { CONTROL_PROTOCOL, controlRequest, controlStreamHandler, ControlError, readMessage } from './control.ts'

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

  it('refuses unknown (future, signed) commands cleanly', async () => {
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
