/**
 * Which transport a codenet peer dials a remote on: QUIC first, TCP when QUIC did not get
 * through.
 *
 * libp2p dials a peer's addresses one after the other, in the order of the connection
 * manager's `addressSorter`, and libp2p's default puts TCP first. codenet puts QUIC first (the
 * faster transport: docs/performance.md §Transports). A QUIC address whose UDP packets are
 * dropped (a firewall that lets TCP through but not UDP) does not fail fast: the dial waits
 * for QUIC's idle timeout (10 s), longer than most of codenet's dials are given (2–5 s), so
 * with QUIC always first such a remote would never be reached. The QUIC transport therefore
 * remembers the addresses it failed to dial, and for QUIC_RETRY_MS those go after TCP.
 */
import type { quic as QuicFactory } from '@chainsafe/libp2p-quic'
import { loopbackAddressLast, publicAddressesFirst } from '@libp2p/utils'
import type { Address, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * @chainsafe/libp2p-quic is a native module with prebuilt binaries for some platforms only
 * (linux-x64-gnu for 2.1.1): where it does not load, codenet runs on TCP alone.
 */
let quic: typeof QuicFactory | null = null
try { quic = (await import('@chainsafe/libp2p-quic')).quic } catch { quic = null }
export const QUIC_AVAILABLE = quic !== null
/** The transports list entry for QUIC: [] where QUIC does not load. */
export const quicTransports = (): Array<ReturnType<typeof quicTransport>> => QUIC_AVAILABLE ? [quicTransport()] : []

export const TCP_ADDR = /^\/ip[46]\/[^/]+\/tcp\/\d+$/
export const QUIC_ADDR = /^\/ip[46]\/[^/]+\/udp\/\d+\/quic-v1$/
/** How long a failed QUIC address is tried after TCP. */
export const QUIC_RETRY_MS = 60_000

/** The address without its /p2p/<id>: what the transport dials. */
const bare = (ma: Multiaddr): string => ma.toString().replace(/\/p2p\/[^/]+$/, '')

/** QUIC addresses (bare) whose last dial failed, with when; shared by the hosts of a process. */
const quicFailures = new Map<string, number>()

export function quicFailedRecently (ma: Multiaddr, now = Date.now()): boolean {
  const at = quicFailures.get(bare(ma))
  if (at === undefined) return false
  if (now - at < QUIC_RETRY_MS) return true
  quicFailures.delete(bare(ma))
  return false
}

/** libp2p's QUIC transport, noting every address it fails to dial or whose dial is given up. */
export function quicTransport (): (components: Parameters<ReturnType<typeof QuicFactory>>[0]) => Transport {
  if (quic === null) throw new Error('QUIC is not available on this platform')
  const make = quic()
  return (components) => {
    const transport = make(components)
    const dial = transport.dial.bind(transport)
    transport.dial = async (ma, options) => {
      // The QUIC dial does not stop when its signal aborts (it runs to the idle timeout): a
      // dial given up on counts as failed at once.
      const failed = (): void => { quicFailures.set(bare(ma), Date.now()) }
      options.signal?.addEventListener('abort', failed, { once: true })
      try {
        return await dial(ma, options)
      } catch (err) {
        failed()
        throw err
      } finally {
        options.signal?.removeEventListener('abort', failed)
      }
    }
    return transport
  }
}

/**
 * The order to dial a peer's addresses in: libp2p's first rules (public before private,
 * loopback last), then QUIC, then TCP, then QUIC addresses that failed recently.
 */
export function dialOrder (a: Address, b: Address): -1 | 0 | 1 {
  const byPlace = loopbackAddressLast(a.multiaddr, b.multiaddr) || publicAddressesFirst(a.multiaddr, b.multiaddr)
  if (byPlace !== 0) return byPlace
  const rank = (x: Address): number => !QUIC_ADDR.test(bare(x.multiaddr)) ? 1 : quicFailedRecently(x.multiaddr) ? 2 : 0
  const d = rank(a) - rank(b)
  return d < 0 ? -1 : d > 0 ? 1 : 0
}
