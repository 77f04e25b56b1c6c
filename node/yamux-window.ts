/**
 * yamux window updates sent when half the receive window is used, not after every data frame.
 *
 * @chainsafe/libp2p-yamux 8 answers every data frame it receives with a window update: a 12-byte
 * frame that noise encrypts as a message of its own and the socket writes with a system call of
 * its own, which the other side reads, decrypts and handles. codenet's results travel as 32 KiB
 * frames, so a peer of the default job sent about 45 window updates per step, and their handling
 * was about 6 % of a peer process's CPU (`codenet bench step --cpu-prof`, docs/performance.md).
 *
 * The yamux specification leaves the moment to the receiver; Go's yamux (the reference
 * implementation) sends an update only once the bytes consumed since the last one reach half the
 * window, or when flags must go out. This applies the same rule to libp2p-yamux's streams (its
 * public `./stream` export): the sender can still send a whole window before it must wait, and it
 * hears of space before it runs out, so nothing stalls; the window still grows as the library
 * grows it. The wire format is unchanged and remotes running the unpatched library are unaffected.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** yamux frame type of a window update (spec: Data 0, WindowUpdate 1, Ping 2, GoAway 3). */
const WINDOW_UPDATE = 1

/** The fields and methods of YamuxStream the rule needs (library internals, checked at patch time). */
interface StreamInternals {
  state: StreamState
  epochStart: number
  recvWindow: number
  recvWindowCapacity: number
  maxStreamWindowSize: number
  streamId: number
  getRTT: () => number
  getSendFlags: () => number
  sendFrame: (header: { type: number, flag: number, streamID: number, length: number }) => void
}

let patched = false

/** Whether the running yamux streams use the half-window rule. */
export const windowUpdatesBatched = (): boolean => patched

/**
 * Applies the half-window rule to every yamux stream of this process (idempotent). Returns false,
 * leaving yamux as it is, when the library's stream does not look as expected.
 */
export function batchWindowUpdates (): boolean {
  if (patched) return true
  const proto = YamuxStream.prototype as unknown as Record<string, unknown>
  if (typeof proto.sendWindowUpdate !== 'function' || typeof proto.getSendFlags !== 'function') return false
  proto.sendWindowUpdate = function sendWindowUpdate (this: StreamInternals): void {
    if (this.state === StreamState.Paused) {
      // As the library: no update while paused, and the epoch restarts when it resumes.
      this.epochStart = Date.now()
      return
    }
    const flags = this.getSendFlags()
    // The rule: nothing to say until half the window the sender knows of is used (flags always
    // go out). The capacity is what the sender may still send before it has to wait.
    if (flags === 0 && this.recvWindowCapacity > this.recvWindow / 2) return
    const now = Date.now()
    const rtt = this.getRTT()
    // As the library: a window consumed within four round trips doubles (up to the maximum).
    if (flags === 0 && rtt > -1 && (now - this.epochStart) <= (rtt * 4)) {
      this.recvWindow = Math.min(this.recvWindow * 2, this.maxStreamWindowSize)
    }
    const delta = this.recvWindow - this.recvWindowCapacity
    this.recvWindowCapacity = this.recvWindow
    this.epochStart = now
    this.sendFrame({ type: WINDOW_UPDATE, flag: flags, streamID: this.streamId, length: delta })
  }
  patched = true
  return true
}
