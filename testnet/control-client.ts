/**
 * The operator's side of the control protocol: a small libp2p node (TCP, noise, yamux, no
 * discovery, no gossip) that dials peers' control protocol for `status` and signed commands.
 * Used by the launcher's monitor, `codenet status` and `codenet fault`.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { CONTROL_PROTOCOL, ControlError, MAX_CONTROL_REQUEST, MAX_CONTROL_RESPONSE, readMessage, controlRequest, type ControlRequest, type ControlResponse } from '../protocols/control.ts'

export interface ControlClient {
  /** The peer's status document (see PeerEngine.status). */
  status: (addr: string, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** Send a pre-built (signed) envelope; resolves to the response body or throws ControlError. */
  send: (addr: string, req: ControlRequest, timeoutMs?: number) => Promise<unknown>
  stop: () => Promise<void>
}

export async function createControlClient (): Promise<ControlClient> {
  const node: Libp2p = await createLibp2p({
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  const dialer = (addr: string) => async (protocol: string, opts: { signal: AbortSignal }): Promise<Stream> =>
    await node.dialProtocol(multiaddr(addr), protocol, { signal: opts.signal })
  return {
    async status (addr, timeoutMs = 3000) {
      return await controlRequest(dialer(addr), 'status', undefined, { timeoutMs }) as Record<string, unknown>
    },
    async send (addr, req, timeoutMs = 5000) {
      const signal = AbortSignal.timeout(timeoutMs)
      const stream = await dialer(addr)(CONTROL_PROTOCOL, { signal })
      try {
        const body = new TextEncoder().encode(JSON.stringify(req))
        if (body.length > MAX_CONTROL_REQUEST) throw new ControlError('control request too large')
        const bytes = new Uint8Array(4 + body.length)
        new DataView(bytes.buffer).setUint32(0, body.length)
        bytes.set(body, 4)
        if (!stream.send(bytes)) await stream.onDrain({ signal })
        const res = await readMessage(stream, MAX_CONTROL_RESPONSE, signal) as ControlResponse
        if (res === null || typeof res !== 'object' || res.id !== req.id) throw new ControlError('control response does not answer the request')
        if (!res.ok) throw new ControlError(`peer refused '${req.type}': ${res.error}`)
        return res.body
      } finally {
        await stream.close({ signal }).catch(() => { stream.abort(new ControlError('closed')) })
      }
    },
    async stop () { await node.stop() }
  }
}
