/**
 * The in-memory Exchange: P peers in one process, deterministic for a seed.
 *
 * Time is virtual. Every message gets an arrival time (ms after the round starts) drawn
 * from (seed, round, sender, receiver): base latency + jitter, plus a straggler's extra
 * delay, plus seeded faults — drop (never arrives), delay (a late message), reorder (a
 * random extra delay that swaps arrival order), corrupt (the receiver gets a copy with
 * gaussian noise), and cut links. A `collect` does not race wall-clock timers: it
 * resolves once every peer of the process is blocked (the microtask queue has drained,
 * checked with setImmediate), and then runs the one collect rule of training/collect.ts
 * (threshold, want, grace — given, or the adaptive lateness estimate the libp2p exchange
 * uses too —, timeout, and the trainer's "enough to decode" test) over the virtual arrival
 * times. So the same seed gives the same rounds, results and "waits" whatever the machine's
 * load. This assumes all peers of the network run in lockstep in this process (as
 * `simulate` does); it is not a general-purpose transport.
 */
import type { Matrix } from '../codes/matrix.ts'
import type { Collected, CollectPolicy, Exchange, PeerPosition, RoundKey } from './exchange.ts'
import { roundKeyString } from './exchange.ts'
import { decideCollect, LatenessEstimator, type Arrival, type LatenessOptions } from './collect.ts'
import { createRng } from './rng.ts'

export interface LinkFaults {
  /** Probability that a message is lost. */
  dropRate?: number
  /** Probability that a message arrives with gaussian noise (std `corruptMagnitude`) on every entry. */
  corruptRate?: number
  corruptMagnitude?: number
  /** Probability that a message is delayed by `delayMs`. */
  delayRate?: number
  delayMs?: number
  /** Probability that a message gets a random extra delay in [0, 3·latency), reordering it. */
  reorderRate?: number
  /** Probability that a message arrives twice (the copy later); receivers must ignore the second. */
  duplicateRate?: number
}

export interface MemoryNetworkOptions extends LinkFaults {
  peers: number
  seed: number
  /** Base one-way latency, ms (default 1). */
  latencyMs?: number
  /** Uniform jitter added to the latency, ms (default 0.5). */
  jitterMs?: number
  /** Peer index → extra delay on everything it sends, ms. */
  stragglers?: ReadonlyMap<number, number> | Record<number, number>
  /** Bytes charged per message besides its payload (default 32: a frame header). */
  headerBytes?: number
  /**
   * Datagram semantics: a dropped or garbled product result is gone (an erasure). Default:
   * stream semantics, as libp2p's streams over TCP — every message lost in transit is sent
   * again after a retransmission timeout, so loss shows as delay, and the collect rule's grace
   * decides whether a late result still counts. Agreement traffic is reliable either way.
   *
   * With datagrams, loss is repaired by the receiver only when the code needs it (a NACK): a
   * round that is stuck — fewer than its threshold in after the grace, or results in hand that
   * do not decode — pulls each lost result from its sender, once per round trip plus grace,
   * every pull and every answer lost again at the drop rate, until the timeout. Erasures the
   * code can absorb therefore cost nothing, and erasures on top of an error (a byzantine peer
   * using the margin) cost a round trip instead of a rollback.
   */
  datagrams?: boolean
  /** The adaptive grace of every peer (as the libp2p exchange's). */
  lateness?: LatenessOptions
}

export interface NetworkStats {
  messages: number
  bytesSent: number
  dropped: number
  corrupted: number
  delayed: number
  duplicated: number
  /** Lost datagrams a stuck round asked for again (each pull: a request and an answer). */
  pulled: number
  /** Per peer: total virtual ms spent in collect. */
  waitMs: number[]
  rounds: number
}

export interface MemoryNetwork {
  readonly peers: number
  exchange (peer: number): Exchange
  readonly stats: NetworkStats
  setStraggler (peer: number, delayMs: number): void
  /** Drop every message from → to until healed. */
  cut (from: number, to: number): void
  heal (): void
  /** Peer `p` restarted: it lost everything buffered for it and everything it had heard. */
  restart (p: number): void
  setLinkFaults (faults: LinkFaults): void
}

interface Delivery {
  from: number
  payload: Matrix
  /** Virtual ms; Infinity when the datagram was lost (then `lost`). */
  arrival: number
  /** A lost datagram: its sender still holds the result and answers a pull. */
  lost?: true
}

interface Evaluation {
  taken: Delivery[]
  /** Pulls this collect made (counted in the statistics when it settles). */
  pulls: number
  pulledBytes: number
  /** Every delivery within the timeout, in arrival order. */
  all: Delivery[]
  /** Virtual ms at which the collect ended. */
  now: number
  timedOut: boolean
  /** It ended because every result it wants is in (not by a grace period or the timeout). */
  complete: boolean
}

interface Pending {
  /** Order of issue (a collect waiting longer settles first when none is complete). */
  issued: number
  peer: number
  key: string
  phase: string
  policy: CollectPolicy
  resolve: (c: Collected) => void
  reject: (e: Error) => void
}

/** Retransmissions of a reliable message before the link counts as broken. */
const MAX_RETRANSMISSIONS = 20

export function createMemoryNetwork (opts: MemoryNetworkOptions): MemoryNetwork {
  const P = opts.peers
  const latency = opts.latencyMs ?? 1
  const jitter = opts.jitterMs ?? 0.5
  const header = opts.headerBytes ?? 32
  let faults: LinkFaults = { ...opts }
  const datagrams = opts.datagrams
  const stragglers = new Map<number, number>(
    opts.stragglers instanceof Map ? opts.stragglers : Object.entries(opts.stragglers ?? {}).map(([k, v]) => [Number(k), v as number])
  )
  const cuts = new Set<string>()
  // inbox[to]: round key → sender → delivery
  const inbox: Array<Map<string, Map<number, Delivery>>> = Array.from({ length: P }, () => new Map())
  const keySteps = new Map<string, number>()
  // heardFrom[to][from]: the newest product round `to` has a result of `from` for.
  const heardFrom: Array<Array<PeerPosition | null>> = Array.from({ length: P }, () => new Array(P).fill(null))
  const heard: number[] = new Array(P).fill(0)
  const lateness = Array.from({ length: P }, () => new LatenessEstimator(opts.lateness))
  const everyone: ReadonlySet<number> = new Set(Array.from({ length: P }, (_, i) => i))
  const stats: NetworkStats = { messages: 0, bytesSent: 0, dropped: 0, corrupted: 0, delayed: 0, duplicated: 0, pulled: 0, waitMs: new Array(P).fill(0), rounds: 0 }
  let pending: Pending[] = []
  let issued = 0
  let scheduled = false

  /** Peer `to`'s deliveries of round `ks` (created, and its step noted for pruning, on first use). */
  const boxOf = (to: number, ks: string, step: number): Map<number, Delivery> => {
    let box = inbox[to].get(ks)
    if (box === undefined) { box = new Map(); inbox[to].set(ks, box); keySteps.set(ks, step) }
    return box
  }

  const deliver = (from: number, to: number, key: RoundKey, ks: string, payload: Matrix, reliable: boolean): void => {
    stats.messages++
    stats.bytesSent += payload.data.length * 8 + header
    if (cuts.has(`${from}>${to}`)) { stats.dropped++; return }
    const rng = createRng(opts.seed, 'link', ks, from, to)
    let arrival = latency + jitter * rng.float() + (stragglers.get(from) ?? 0)
    // A reliable message lost (or garbled: a checksum catches it) is sent again after a
    // retransmission timeout, as a stream transport does; an unreliable one is simply gone
    // (a product result: an erasure the code absorbs).
    const retransmitMs = 3 * latency + jitter
    for (let tries = 0; rng.float() < (faults.dropRate ?? 0); tries++) {
      stats.dropped++
      if (!reliable) { keepLost(from, to, key, ks, payload); return }
      if (tries >= MAX_RETRANSMISSIONS) return
      arrival += retransmitMs
      stats.messages++
      stats.bytesSent += payload.data.length * 8 + header
    }
    if (rng.float() < (faults.delayRate ?? 0)) { arrival += faults.delayMs ?? 10 * latency; stats.delayed++ }
    if (rng.float() < (faults.reorderRate ?? 0)) arrival += 3 * latency * rng.float()
    let data = payload
    if (reliable) {
      while (rng.float() < (faults.corruptRate ?? 0)) { arrival += retransmitMs; stats.corrupted++ }
    } else if (rng.float() < (faults.corruptRate ?? 0)) {
      const d = payload.data.slice()
      const mag = faults.corruptMagnitude ?? 1
      for (let i = 0; i < d.length; i++) d[i] += mag * rng.normal()
      data = { rows: payload.rows, cols: payload.cols, data: d }
      stats.corrupted++
    }
    // A duplicate arrives later; the inbox keeps one result per sender and round (the first).
    if (rng.float() < (faults.duplicateRate ?? 0)) { stats.duplicated++; stats.messages++ }
    if (key.phase === 'forward' || key.phase === 'backward') heardFrom[to][from] = { step: key.step, attempt: key.attempt, seq: ++heard[to] }
    const box = boxOf(to, ks, key.step)
    if (!box.has(from)) box.set(from, { from, payload: data, arrival })
  }

  const keepLost = (from: number, to: number, key: RoundKey, ks: string, payload: Matrix): void => {
    const box = boxOf(to, ks, key.step)
    if (!box.has(from)) box.set(from, { from, payload, arrival: Infinity, lost: true })
  }

  /**
   * The pull of one lost datagram, asked for at `at`: a request and an answer, each lost at
   * the drop rate; asked again a round trip plus `graceMs` later. The arrival, or null when
   * none came before `timeoutMs`. Seeded by round, sender and receiver: every evaluation of
   * the same collect sees the same pulls.
   */
  const pull = (ks: string, from: number, to: number, at: number, graceMs: number, timeoutMs: number): { arrival: number | null, tries: number } => {
    const rng = createRng(opts.seed, 'pull', ks, from, to)
    const roundTrip = 2 * latency + jitter * rng.float() + (stragglers.get(from) ?? 0)
    const p = faults.dropRate ?? 0
    let t = at
    let tries = 0
    while (t + roundTrip <= timeoutMs && tries < MAX_RETRANSMISSIONS) {
      tries++
      if (cuts.has(`${from}>${to}`) || cuts.has(`${to}>${from}`)) break
      if (rng.float() >= p && rng.float() >= p) return { arrival: t + roundTrip, tries }
      t += roundTrip + graceMs
    }
    return { arrival: null, tries }
  }

  /**
   * Runs the collect rule (training/collect.ts) over the round's virtual arrival times, as the
   * libp2p exchange runs it over wall-clock times: decide after every arrival and at every
   * deadline the rule names. Every peer of the simulation is live (a dropped message is a
   * silent peer, waited for until the grace or the timeout, as on a real network).
   */
  const evaluate = (p: Pending): Evaluation => {
    const { policy } = p
    const phase = p.phase
    const box = [...(inbox[p.peer].get(p.key)?.values() ?? [])]
    const all = box
      .filter(d => d.arrival <= policy.timeoutMs)
      .sort((a, b) => a.arrival - b.arrival || a.from - b.from)
    // Lost datagrams, pulled once the round is stuck (MemoryNetworkOptions.datagrams).
    const lost = box.filter(d => d.lost === true).sort((a, b) => a.from - b.from)
    let pulls = 0
    let pulledBytes = 0
    const est = lateness[p.peer]
    const grace = est.graceMs(phase)
    const taken: Delivery[] = []
    const arrivals: Arrival[] = []
    const results = (): ReadonlyMap<number, Matrix> => new Map(taken.map(d => [d.from, d.payload]))
    let now = 0
    let timedOut = false
    for (;;) {
      const d = decideCollect(policy, { peers: P, arrivals, nowMs: now, live: everyone, adaptiveGraceMs: grace }, results)
      if (d.done) { timedOut = d.timedOut; break }
      let next = all[taken.length]
      if ((next === undefined || next.arrival > d.wakeAtMs) && d.wakeAtMs >= policy.timeoutMs && lost.length > 0) {
        // Stuck until the timeout: nothing more is on its way. Pull what was lost — after the
        // grace when too few are in (a real receiver cannot tell lost from late before then),
        // at once when the results in hand do not decode (the grace is already over).
        const wait = policy.graceMs ?? grace
        const at = taken.length < policy.threshold ? now + wait : now
        for (const l of lost.splice(0)) {
          const r = pull(p.key, l.from, p.peer, at, wait, policy.timeoutMs)
          pulls += r.tries
          if (r.arrival !== null) {
            pulledBytes += l.payload.data.length * 8
            all.push({ from: l.from, payload: l.payload, arrival: r.arrival })
          }
        }
        all.sort((a, b) => a.arrival - b.arrival || a.from - b.from)
        next = all[taken.length]
      }
      if (next !== undefined && next.arrival <= d.wakeAtMs) {
        taken.push(next)
        arrivals.push({ from: next.from, atMs: next.arrival })
        now = Math.max(now, next.arrival)
      } else {
        now = d.wakeAtMs
      }
    }
    // Complete: nothing more to wait for (every result wanted is in), as opposed to ended by a
    // grace period or the timeout, which only virtual time passing can justify.
    const complete = taken.length >= Math.min(policy.want ?? P, P)
    return { taken, pulls, pulledBytes, all, now, timedOut, complete }
  }

  /** The collect's outcome: lateness samples and wait statistics are taken once, here. */
  const settle = (p: Pending, ev: Evaluation): Collected => {
    const { policy, phase } = p
    const { taken, all, now, timedOut } = ev
    const est = lateness[p.peer]
    // Lateness samples: every result that came after the round could first be decoded,
    // including those that came after this peer stopped waiting (as on a real network,
    // where they arrive while the round is still held).
    if (all.length >= policy.threshold) {
      const tQ = all[policy.threshold - 1].arrival
      for (const d of all) if (d.from !== p.peer && d.arrival > tQ) est.sample(phase, d.arrival - tQ)
    }
    stats.waitMs[p.peer] += now
    if (ev.pulls > 0) {
      // A pull is a request and an answer.
      stats.pulled += ev.pulls
      stats.messages += 2 * ev.pulls
      stats.bytesSent += ev.pulls * 2 * header + ev.pulledBytes
    }
    return {
      results: new Map(taken.map(d => [d.from, d.payload])),
      arrivalMs: new Map(taken.map(d => [d.from, d.arrival])),
      timedOut
    }
  }

  /**
   * Every peer is blocked in a collect. Virtual time only passes when nobody can go on: while
   * some collects are complete (every result they want is in), only those settle, and the
   * others wait — the results they lack may be published by peers those collects release
   * (computation takes no virtual time). Once none is complete, the collect waiting longest
   * (issued first) lets its grace period or timeout run out and settles on what has arrived;
   * the peer it releases may publish what the others lack, so they are judged again.
   */
  const flush = (): void => {
    scheduled = false
    const now = pending.sort((a, b) => a.peer - b.peer)
    pending = []
    stats.rounds++
    const evals = now.map(p => p.policy.signal?.aborted === true ? null : evaluate(p))
    const someoneSettles = evals.some(ev => ev !== null && ev.complete)
    let oldest = -1
    if (!someoneSettles) now.forEach((p, i) => { if (evals[i] !== null && (oldest < 0 || p.issued < now[oldest].issued)) oldest = i })
    now.forEach((p, i) => {
      const ev = evals[i]
      if (ev === null) { p.reject(p.policy.signal?.reason instanceof Error ? p.policy.signal.reason : new Error('collect aborted')); return }
      if (someoneSettles ? !ev.complete : i !== oldest) { pending.push(p); return }
      p.resolve(settle(p, ev))
    })
    if (pending.length > 0 && !scheduled) { scheduled = true; setImmediate(flush) }
  }

  const exchangeFor = (self: number): Exchange => {
    if (!Number.isInteger(self) || self < 0 || self >= P) throw new RangeError(`peer ${self} out of ${P}`)
    return {
      self,
      peers: P,
      async publish (key, payload, to, opts) {
        const ks = roundKeyString(key)
        // A peer always has its own result, at time 0.
        boxOf(self, ks, key.step).set(self, { from: self, payload, arrival: 0 })
        const targets = to ?? Array.from({ length: P }, (_, i) => i)
        for (const t of targets) if (t !== self) deliver(self, t, key, ks, payload, opts?.reliable === true || datagrams !== true)
      },
      async collect (key, policy) {
        if (policy.threshold > P) throw new RangeError(`collect threshold ${policy.threshold} exceeds ${P} peers`)
        return await new Promise<Collected>((resolve, reject) => {
          pending.push({ issued: ++issued, peer: self, key: roundKeyString(key), phase: key.phase, policy, resolve, reject })
          if (!scheduled) { scheduled = true; setImmediate(flush) }
        })
      },
      positions: () => heardFrom[self].map(p => p === null ? null : { ...p }),
      get heard () { return heard[self] },
      prune (step) {
        for (const [ks, s] of keySteps) {
          if (s < step) { inbox[self].delete(ks) }
        }
        if (self === P - 1) for (const [ks, s] of keySteps) if (s < step && inbox.every(b => !b.has(ks))) keySteps.delete(ks)
      }
    }
  }

  const exchanges = Array.from({ length: P }, (_, i) => exchangeFor(i))
  return {
    peers: P,
    exchange: (p: number) => exchanges[p],
    stats,
    setStraggler: (p, ms) => { if (ms > 0) stragglers.set(p, ms); else stragglers.delete(p) },
    cut: (from, to) => { cuts.add(`${from}>${to}`) },
    heal: () => { cuts.clear() },
    restart: (p) => { inbox[p].clear(); heardFrom[p].fill(null) },
    setLinkFaults: (f) => { faults = { ...f } }
  }
}
