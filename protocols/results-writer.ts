/**
 * The outbound half of the result exchange (protocols/results.ts): one writer per remote
 * member, holding a bounded queue of length-prefixed frames and one long-lived stream to it.
 * It dials lazily (with a few quick retries), writes with `send()` and waits on `onDrain()`
 * when the stream pushes back; a remote that cannot be reached is backed off and what was
 * queued for it is dropped (to the others it is an erasure, which the code absorbs).
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { ResultExchange } from './results.ts'

const now = (): number => performance.now()

/**
 * Writes are coalesced up to just under one noise message (65,535 bytes including its 16-byte
 * tag) less the muxer's 12-byte header, so a coalesced write is one muxer frame and one
 * encryption.
 */
export const COALESCE_BYTES = 65_535 - 16 - 12

export class RemoteWriter {
  readonly index: number
  readonly peer: PeerId
  private stream: Stream | null = null
  private queue: Uint8Array[] = []
  queuedBytes = 0
  private running = false
  private retryAt = 0
  private backoffMs = 250
  failures = 0
  dropped = 0
  private readonly ex: ResultExchange

  constructor (ex: ResultExchange, index: number, peer: PeerId) {
    this.ex = ex
    this.index = index
    this.peer = peer
  }

  get connected (): boolean { return this.stream !== null && this.stream.status === 'open' }

  enqueue (frames: Uint8Array[]): void {
    const bytes = frames.reduce((a, f) => a + f.length, 0)
    if (now() < this.retryAt || this.queuedBytes + bytes > this.ex.maxQueuedBytes) {
      this.dropped++
      return
    }
    this.queue.push(...frames)
    this.queuedBytes += bytes
    if (!this.running) void this.run()
  }

  private async run (): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.ex.stopped) {
        if (this.stream === null || this.stream.status !== 'open' || this.stream.writeStatus !== 'writable') {
          this.stream = null
          this.stream = await this.dial()
          this.stream.addEventListener('close', () => { if (this.stream?.status !== 'open') this.stream = null })
        }
        const s = this.stream
        const { bytes, frames } = this.take()
        if (!s.send(bytes)) await s.onDrain({ signal: AbortSignal.any([this.ex.stopSignal, AbortSignal.timeout(this.ex.dialTimeoutMs * 4)]) })
        this.ex.bytesSent += bytes.length
        this.ex.framesSent += frames
        this.backoffMs = 250
      }
    } catch (err) {
      // The remote is gone or stuck: drop what is queued (erasures to it) and back off.
      this.failures++
      this.ex.log('send to %d failed: %s', this.index, (err as Error).message)
      this.stream?.abort(err as Error)
      this.stream = null
      this.dropped += this.queue.length > 0 ? 1 : 0
      this.queue = []
      this.queuedBytes = 0
      this.retryAt = now() + this.backoffMs
      this.backoffMs = Math.min(this.backoffMs * 2, 4000)
    } finally {
      this.running = false
    }
  }

  /**
   * The next write: queued frames coalesced up to COALESCE_BYTES (a round's small results go out
   * as one muxer frame and one noise message, not one per result); a frame larger than that goes
   * alone, uncopied.
   */
  private take (): { bytes: Uint8Array, frames: number } {
    let n = 0
    let size = 0
    while (n < this.queue.length && (n === 0 || size + this.queue[n].length <= COALESCE_BYTES)) size += this.queue[n++].length
    const parts = this.queue.splice(0, n)
    this.queuedBytes -= size
    if (n === 1) return { bytes: parts[0], frames: 1 }
    const bytes = new Uint8Array(size)
    let o = 0
    for (const p of parts) { bytes.set(p, o); o += p.length }
    return { bytes, frames: n }
  }

  /** The remote opened a stream to us: it is reachable, so no more backing off from it. */
  peerIsBack (): void {
    this.retryAt = 0
    this.backoffMs = 250
  }

  /** Dial with a few quick retries: a connection that is still being set up is not a dead peer. */
  private async dial (): Promise<Stream> {
    for (let attempt = 0; ; attempt++) {
      try {
        const signal = AbortSignal.any([this.ex.stopSignal, AbortSignal.timeout(this.ex.dialTimeoutMs)])
        const s = await this.ex.components.dialProtocol(this.peer, this.ex.protocol, { signal })
        return s
      } catch (err) {
        if (attempt >= 2 || this.ex.stopped) throw err
        await new Promise(resolve => setTimeout(resolve, 100 << attempt))
      }
    }
  }

  /** Drops what is queued and aborts the stream with `reason`. */
  close (reason: Error): void {
    this.queue = []
    this.queuedBytes = 0
    try { this.stream?.abort(reason) } catch {}
    this.stream = null
  }
}
