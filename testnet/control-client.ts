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
import { CONTROL_PROTOCOL, ControlError, MAX_CONTROL_REQUEST, MAX_CONTROL_RESPONSE, readMessage, controlRequest, parseResponse, type ControlRequest } from '../protocols/control.ts'
import { parsePeerStatus, type PeerStatus } from '../protocols/status.ts'

/** A peer answered `status` with something that is not a status document. */
export class MalformedStatusError extends ControlError {
  override name = 'MalformedStatusError'
}

export interface ControlClient {
  /** The peer's status document (protocols/status.ts), validated: MalformedStatusError when it is not one. */
  status: (addr: string, timeoutMs?: number) => Promise<PeerStatus>
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
      const r = parsePeerStatus(await controlRequest(dialer(addr), 'status', undefined, { timeoutMs }))
      if (!r.ok) throw new MalformedStatusError(r.error)
      return r.status
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
        return parseResponse(await readMessage(stream, MAX_CONTROL_RESPONSE, signal), req.id, req.type)
      } finally {
        await stream.close({ signal }).catch(() => { stream.abort(new ControlError('closed')) })
      }
    },
    async stop () { await node.stop() }
  }
}
