/**
 * libp2p's TCP transport, with each batch of outgoing bytes handed to the socket as one write.
 *
 * Noise frames every encrypted message as two pieces, its 2-byte length and the ciphertext, and
 * @libp2p/tcp writes the pieces of a batch one `socket.write` at a time. With TCP_NODELAY (which
 * it sets, and which the exchange needs) every piece is a system call and a TCP segment of its
 * own: a 2-byte segment before every 64 KiB ciphertext, and on the receiving side a read and a
 * round of stream events for each. Corking the socket around the batch makes Node hand all its
 * pieces to the kernel in one `writev`, without copying them.
 *
 * The transport itself is untouched: its dial and listener get an upgrader that corks the
 * connection's `sendData` before the connection is upgraded (noise, yamux) on top of it.
 */
import { tcp, type TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

type TcpComponents = Parameters<ReturnType<typeof tcp>>[0]

interface Corkable {
  cork: () => void
  uncork: () => void
  destroyed?: boolean
}

/** The raw socket of an @libp2p/tcp connection, when it has one we can cork. */
function socketOf (maConn: MultiaddrConnection): Corkable | null {
  const socket = (maConn as unknown as { socket?: Partial<Corkable> }).socket
  return typeof socket?.cork === 'function' && typeof socket.uncork === 'function' ? socket as Corkable : null
}

/** Makes `maConn` write each batch it sends as one corked write. Returns it. */
export function corkSends (maConn: MultiaddrConnection): MultiaddrConnection {
  const socket = socketOf(maConn)
  const target = maConn as unknown as { sendData?: (data: unknown) => unknown }
  if (socket === null || typeof target.sendData !== 'function') return maConn
  const send = target.sendData.bind(maConn)
  target.sendData = (data: unknown) => {
    socket.cork()
    try {
      return send(data)
    } finally {
      if (socket.destroyed !== true) socket.uncork()
    }
  }
  return maConn
}

function corkingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop, receiver) {
      if (prop === 'upgradeOutbound') return async (maConn: MultiaddrConnection, opts: any) => await target.upgradeOutbound(corkSends(maConn), opts)
      if (prop === 'upgradeInbound') return async (maConn: MultiaddrConnection, opts: any) => await target.upgradeInbound(corkSends(maConn), opts)
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}

/** `tcp(init)`, writing each outgoing batch as one corked write (see above). */
export function corkedTcp (init?: TCPOptions): (components: TcpComponents) => Transport {
  const make = tcp(init)
  return (components) => {
    const transport = make(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => await dial(ma, { ...options, upgrader: corkingUpgrader(options.upgrader) })
    transport.createListener = (options) => createListener({ ...options, upgrader: corkingUpgrader(options.upgrader) })
    return transport
  }
}
