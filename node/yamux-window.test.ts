import { describe, it, expect } from 'vitest'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { batchWindowUpdates, windowUpdatesBatched } from './yamux-window.ts'

const KIB = 1024

/** A stream's receive side as YamuxStream keeps it, with the frames it sends recorded. */
function fakeStream (window: number, rtt = -1) {
  const sent: Array<{ type: number, flag: number, length: number }> = []
  let flags = 0
  const s = {
    state: StreamState.Established,
    epochStart: Date.now(),
    recvWindow: window,
    recvWindowCapacity: window,
    maxStreamWindowSize: 16 * 1024 * KIB,
    streamId: 3,
    getRTT: () => rtt,
    getSendFlags: () => { const f = flags; flags = 0; return f },
    sendFrame: (h: { type: number, flag: number, streamID: number, length: number }) => { sent.push({ type: h.type, flag: h.flag, length: h.length }) },
    setFlags: (f: number) => { flags = f },
    sent
  }
  /** As YamuxStream.handleData: the capacity drops by the frame, then the update rule runs. */
  const receive = (bytes: number): void => {
    if (s.recvWindowCapacity < bytes) throw new Error('receive window exceeded')
    s.recvWindowCapacity -= bytes
    ;(YamuxStream.prototype as unknown as { sendWindowUpdate: () => void }).sendWindowUpdate.call(s)
  }
  return { s, receive }
}

describe('yamux window updates at half the window', () => {
  it('patches the library stream once', () => {
    expect(batchWindowUpdates()).toBe(true)
    expect(batchWindowUpdates()).toBe(true)
    expect(windowUpdatesBatched()).toBe(true)
  })

  it('sends one update per half window of 32 KiB frames, each giving back what was used', () => {
    batchWindowUpdates()
    const { s, receive } = fakeStream(256 * KIB)
    for (let i = 0; i < 32; i++) receive(32 * KIB)
    // 1 MiB in 32 frames: an update after every 4th frame (128 KiB), not 32 of them.
    expect(s.sent).toHaveLength(8)
    for (const f of s.sent) expect(f).toEqual({ type: 1, flag: 0, length: 128 * KIB })
    // The sender never had less than half a window to send with.
    expect(s.recvWindowCapacity).toBe(256 * KIB)
  })

  it('never lets a sender that respects the window stall, whatever the frame sizes', () => {
    batchWindowUpdates()
    for (const frame of [1, 1000, 32 * KIB, 100 * KIB, 256 * KIB - 12]) {
      const { s, receive } = fakeStream(256 * KIB)
      // The sender's view: what it may send; it sends as much as it may, frame by frame.
      let senderCapacity = 256 * KIB
      let delivered = 0
      for (let i = 0; i < 200; i++) {
        const n = Math.min(frame, senderCapacity)
        expect(n, `frame ${frame}: the sender is stuck after ${delivered} bytes`).toBeGreaterThan(0)
        senderCapacity -= n
        const before = s.sent.length
        receive(n)
        for (const u of s.sent.slice(before)) senderCapacity += u.length
        delivered += n
        expect(senderCapacity).toBe(s.recvWindowCapacity)
      }
    }
  })

  it('sends flags at once, and nothing while paused', () => {
    batchWindowUpdates()
    const { s, receive } = fakeStream(256 * KIB)
    s.setFlags(2)
    receive(10)
    expect(s.sent).toEqual([{ type: 1, flag: 2, length: 10 }])
    s.state = StreamState.Paused
    receive(200 * KIB)
    expect(s.sent).toHaveLength(1)
  })

  it('grows the window as the library does when a half window is used within four round trips', () => {
    batchWindowUpdates()
    const { s, receive } = fakeStream(256 * KIB, 1000)
    for (let i = 0; i < 4; i++) receive(32 * KIB)
    expect(s.recvWindow).toBe(512 * KIB)
    expect(s.sent).toEqual([{ type: 1, flag: 0, length: 512 * KIB - 128 * KIB }])
  })
})
