/**
 * The operator's side of the control protocol: a small libp2p node (QUIC, and TCP with noise
 * and yamux, as peers listen on either; no discovery, no gossip) that dials peers' control protocol for `status` and signed commands.
 * Used by the launcher's monitor, `codenet status` and `codenet fault`.
 *
 * A signed command (`command`) is bound to its one peer: the client reads that peer's status
 * first (its peer id, job hash and boot nonce), checks it is the peer and job it means, signs
 * the command for exactly that (node/control-auth.ts), then sends it. Every sender of fault
 * commands — `codenet fault`, the launcher's start faults and `--replay` — goes through here
 * (testnet/fault-history.ts injectFault).
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { quicTransports } from '../node/transports.ts'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import type { KeyObject } from 'node:crypto'
import { CONTROL_PROTOCOL, ControlError, MAX_CONTROL_REQUEST, MAX_CONTROL_RESPONSE, readMessage, controlRequest, parseResponse, type ControlRequest, type ControlTarget } from '../protocols/control.ts'
import { parsePeerStatus, type PeerStatus } from '../protocols/status.ts'
import { signControlRequest, controlLibp2pKey } from '../node/control-auth.ts'

/** The peer answered only its phase and step: this client is not its controller (no control key). */
export class RestrictedStatusError extends ControlError {
  override name = 'RestrictedStatusError'
}

/** A peer answered `status` with something that is not a status document. */
export class MalformedStatusError extends ControlError {
  override name = 'MalformedStatusError'
}

/** Who the sender means to command: the peer id and the job hash it expects at the address. */
export interface CommandExpectation {
  peer?: string | null
  job?: string
}

const short = (s: string): string => s.length > 16 ? `${s.slice(0, 12)}…` : s

/**
 * What a command for the peer that answered `st` must be signed for: its peer id, its job and
 * its current boot. ControlError when it publishes no boot nonce, or is not the peer or job
 * the sender expects.
 */
export function commandTarget (st: PeerStatus, expect: CommandExpectation = {}): ControlTarget {
  if (expect.peer !== undefined && expect.peer !== null && st.peerId !== expect.peer) {
    throw new ControlError(`the peer at this address is ${short(st.peerId)}, not ${short(expect.peer)}`)
  }
  if (expect.job !== undefined && st.job !== expect.job) throw new ControlError(`peer ${short(st.peerId)} runs job ${short(st.job)}, not ${short(expect.job)}`)
  const boot = st.controller?.boot
  if (boot === undefined) throw new ControlError(`peer ${short(st.peerId)} publishes no boot nonce (it runs no fault controller, or an older codenet): it cannot be sent a bound command`)
  return { peer: st.peerId, job: st.job, boot }
}

export interface ControlClient {
  /** The peer's status document (protocols/status.ts), validated: MalformedStatusError when it is not one. */
  status: (addr: string, timeoutMs?: number) => Promise<PeerStatus>
  /** Send a pre-built (signed) envelope; resolves to the response body or throws ControlError. */
  send: (addr: string, req: ControlRequest, timeoutMs?: number) => Promise<unknown>
  /**
   * Read the peer's status, sign `type`/`body` with `key` for that peer, job and boot
   * (commandTarget), send it; resolves to the response body or throws ControlError.
   */
  command: (addr: string, key: KeyObject, type: string, body: unknown, expect?: CommandExpectation) => Promise<unknown>
  stop: () => Promise<void>
}

/**
 * With the control key the client dials as the controller (its peer id is the key's: a peer shows
 * its full status only to its members and to that id); without, it sees phase and step only.
 */
export async function createControlClient (opts: { key?: KeyObject } = {}): Promise<ControlClient> {
  const node: Libp2p = await createLibp2p({
    ...(opts.key !== undefined ? { privateKey: controlLibp2pKey(opts.key) } : {}),
    addresses: { listen: [] },
    transports: [...quicTransports(), tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  const dialer = (addr: string) => async (protocol: string, opts: { signal: AbortSignal }): Promise<Stream> =>
    await node.dialProtocol(multiaddr(addr), protocol, { signal: opts.signal })
  const client: ControlClient = {
    async status (addr, timeoutMs = 3000) {
      const r = parsePeerStatus(await controlRequest(dialer(addr), 'status', undefined, { timeoutMs }))
      if (!r.ok) throw r.restricted !== undefined ? new RestrictedStatusError(r.error) : new MalformedStatusError(r.error)
      return r.status
    },
    async command (addr, key, type, body, expect) {
      const target = commandTarget(await client.status(addr), expect)
      return await client.send(addr, signControlRequest(key, type, body, target))
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
  return client
}
