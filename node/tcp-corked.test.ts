import { describe, expect, it } from 'vitest'
import { createServer, connect, type Socket } from 'node:net'
import type { MultiaddrConnection } from '@libp2p/interface'
import { corkSends } from './tcp-corked.ts'

/** A stand-in for @libp2p/tcp's connection: sendData writes each piece with socket.write, as it does. */
function fakeConn (socket: Socket): MultiaddrConnection & { sendData: (data: Uint8Array[]) => { sentBytes: number, canSendMore: boolean } } {
  return {
    socket,
    sendData (data: Uint8Array[]) {
      let sentBytes = 0
      let canSendMore = true
      for (const buf of data) { sentBytes += buf.byteLength; canSendMore = socket.write(buf) }
      return { sentBytes, canSendMore }
    }
  } as any
}

describe('corkSends', () => {
  it('hands a batch of pieces to the kernel as one write, bytes unchanged', async () => {
    const received: Buffer[] = []
    const server = createServer(s => s.on('data', d => received.push(d)))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const socket = connect({ port, host: '127.0.0.1', noDelay: true })
    await new Promise<void>(resolve => socket.once('connect', resolve))
    const writes: number[] = []
    const handle = (socket as any)._handle
    const writev = handle.writev.bind(handle)
    const writeBuffer = handle.writeBuffer.bind(handle)
    handle.writev = (req: unknown, chunks: unknown[], all: boolean) => { writes.push(all ? chunks.length : chunks.length / 2); return writev(req, chunks, all) }
    handle.writeBuffer = (req: unknown, buf: Uint8Array) => { writes.push(1); return writeBuffer(req, buf) }

    const conn = corkSends(fakeConn(socket)) as ReturnType<typeof fakeConn>
    const pieces = [Uint8Array.of(0, 5), Uint8Array.of(1, 2, 3, 4, 5), Uint8Array.of(0, 3), Uint8Array.of(6, 7, 8)]
    const r = conn.sendData(pieces)
    expect(r.sentBytes).toBe(12)
    expect(writes).toEqual([4]) // one writev of the four pieces, not four writes
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(Buffer.concat(received)).toEqual(Buffer.from([0, 5, 1, 2, 3, 4, 5, 0, 3, 6, 7, 8]))
    socket.destroy()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })

  it('leaves a connection without a corkable socket as it is', () => {
    const conn = { sendData: () => ({ sentBytes: 0, canSendMore: true }) } as any
    const before = conn.sendData
    expect(corkSends(conn)).toBe(conn)
    expect(conn.sendData).toBe(before)
  })
})
