/**
 * The peer-side fault controller: what `codenet fault …` changes inside a running peer.
 *
 * The engine consults it through its hooks (`EngineHooks` in node/engine.ts):
 *   injector   soft errors (rate/kind/magnitude/site, the soft-error injector of
 *              training/soft-errors.ts with the command's seed) and byzantine results: every partial
 *              product this peer publishes is offset by the same seeded pattern, so its results
 *              are consistently, coherently wrong (a lying peer, not random noise)
 *   exchange   straggler (a delay before each publish), pause (publishing blocks until cleared),
 *              partition (no results to or from a set of peer indices), garbage-frames (before each
 *              publish, a malformed frame to every reachable member on the results protocol), and
 *              the per-peer counters of results that never arrived (`missing`): how stragglers,
 *              paused, crashed and partitioned peers are seen
 *   control    the signed `fault` and `fault-clear` requests (node/control-auth.ts; the bodies
 *              are protocols/fault-command.ts's): only the testnet's key is obeyed, and only a
 *              command signed for this peer, this job and this boot (a random nonce drawn when
 *              the controller is made, published in the status as `controller.boot`), within
 *              its lifetime, never one obeyed before: its id is written to the replay memory in
 *              the data dir (node/replay-memory.ts) before the command is acted on. Refusals
 *              are counted per reason (`controller.refused`) and printed at most once per
 *              REFUSAL_PRINT_INTERVAL_MS. `crash` answers, then exits with CRASH_EXIT_CODE.
 *              Whether it comes back is not the peer's business: the launcher learnt the
 *              crash's restart intent from the fault CLI before the command was sent
 *              (testnet/fault-history.ts)
 *   status     active faults and counters, merged into the control status answer
 */
import { randomBytes } from 'node:crypto'
import { logger } from '@libp2p/logger'
import type { PeerId, Stream } from '@libp2p/interface'
import type { KeyObject } from 'node:crypto'
import type { Matrix } from '../codes/matrix.ts'
import type { Collected, CollectPolicy, Exchange, PublishOptions, RoundKey } from '../training/exchange.ts'
import { createFaultInjector, DEFAULT_SOFT_ERRORS, type ErrorKind, type FaultContext, type FaultInjector, type FaultInjectorOptions, type FaultSite } from '../training/soft-errors.ts'
import type { ControlRequest, ControlTarget } from '../protocols/control.ts'
import { parseFaultCommand, type FaultApplied, type FaultCleared, type FaultCommand, type FaultKind } from '../protocols/fault-command.ts'
import type { ControllerStatus } from '../protocols/status.ts'
import { lengthPrefixed } from '../protocols/frame.ts'
import { ControlAuthError, ControlVerifier, type RefusalReason } from './control-auth.ts'
import { ReplayMemory } from './replay-memory.ts'
import { byzantineOffset } from '../training/adversaries.ts'

/** Exit code of a peer crashed on command; the launcher restarts such a peer. */
export const CRASH_EXIT_CODE = 75

/** At most one printed line about refused commands per this many ms (each one is counted and debug-logged). */
export const REFUSAL_PRINT_INTERVAL_MS = 10_000

/**
 * What a command's absent parameter means on the peer. `codenet fault` always sends every
 * parameter of its kind: its parameter table (testnet/fault-params.ts) takes these defaults.
 */
export const COMMAND_DEFAULTS: Readonly<{ rate: number, errorKind: ErrorKind, magnitude: number, site: FaultSite | 'any', delayMs: number }> = Object.freeze({
  rate: DEFAULT_SOFT_ERRORS.commandRate,
  errorKind: DEFAULT_SOFT_ERRORS.kind,
  magnitude: DEFAULT_SOFT_ERRORS.magnitude,
  site: DEFAULT_SOFT_ERRORS.site,
  delayMs: 1000
})

/** Peers `self` may not exchange results with under a partition command. */
export function partitionBlocks (cmd: Pick<FaultCommand, 'from' | 'to'>, self: number, peers: number): Set<number> {
  const out = new Set<number>()
  if (cmd.from !== undefined && cmd.to !== undefined) {
    if (self === cmd.from) out.add(cmd.to)
    if (self === cmd.to) out.add(cmd.from)
    return out
  }
  const half = Math.ceil(peers / 2)
  for (let j = 0; j < peers; j++) if ((j < half) !== (self < half)) out.add(j)
  return out
}

export interface JoinedContext {
  members: readonly PeerId[]
  self: number
  resultsProtocol: string
  dialProtocol: (peer: PeerId, protocol: string, opts: { signal: AbortSignal }) => Promise<Stream>
}

export interface FaultControllerOptions {
  /** Commands must be signed with this key; null: the peer obeys no fault command. */
  authorisedKey: KeyObject | null
  /** The hash of the job this peer runs: commands must name it. */
  job: string
  /** The peer's data dir, where the ids of obeyed commands survive restarts; null: kept in RAM only. */
  dataDir: string | null
  /** This boot's nonce; random by default (a test may fix it to play a restart that kept it). */
  boot?: string
  now?: () => number
  /** How a crash command ends the process (the peer command passes process.exit). */
  exit: (code: number) => void
  /** Unblocks a paused peer when the peer is stopping. */
  signal?: AbortSignal
  print?: (line: string) => void
}

type SoftErrorFault = FaultCommand & Required<Pick<FaultCommand, 'rate' | 'errorKind' | 'magnitude' | 'site'>> & { injector: FaultInjector }

interface ActiveFaults {
  softError: SoftErrorFault | null
  straggler: FaultCommand | null
  pause: FaultCommand | null
  partition: (FaultCommand & { blocked: number[] }) | null
  byzantine: FaultCommand | null
  garbage: FaultCommand | null
}

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  await new Promise<void>(resolve => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

export class FaultController {
  private readonly opts: FaultControllerOptions
  private verifier: ControlVerifier | null
  private readonly log = logger('codenet:faults')
  private readonly active: ActiveFaults = { softError: null, straggler: null, pause: null, partition: null, byzantine: null, garbage: null }
  private joinedCtx: JoinedContext | null = null
  private peers = 0
  private resume: Array<() => void> = []
  private readonly garbageStreams = new Map<number, Stream>()
  /** Injected by this controller (the engine's own injector counts its own). */
  private softErrors = 0
  private byzantineResults = 0
  readonly counters = { commandsAccepted: 0, commandsRefused: 0, delayedPublishes: 0, pausedMs: 0, partitionDropped: 0, garbageFramesSent: 0 }
  /** Per sender index: rounds whose collection ended without its result; results that came after the threshold. */
  private missing: number[] = []
  private late: number[] = []
  private readonly history: Array<{ at: number, kind: string, seed: number | null }> = []
  /** Published in the status; a command must be signed for it. */
  readonly boot: string
  /** What a command must be signed for, once `bind` knows this peer's id. */
  private self: ControlTarget | null = null
  private readonly now: () => number
  private readonly refused: Partial<Record<RefusalReason, number>> = {}
  private lastRefusalPrint = -Infinity
  private unprintedRefusals = 0

  constructor (opts: FaultControllerOptions) {
    this.opts = opts
    this.now = opts.now ?? Date.now
    this.boot = opts.boot ?? randomBytes(16).toString('hex')
    this.verifier = opts.authorisedKey === null ? null : new ControlVerifier(opts.authorisedKey, { now: this.now })
    opts.signal?.addEventListener('abort', () => { this.release() }, { once: true })
  }

  /**
   * The peer's id is known (the engine started): load the replay memory from the data dir and
   * start obeying commands signed for this peer. Until then every command is refused.
   */
  async bind (peerId: string): Promise<void> {
    if (this.opts.authorisedKey !== null) {
      const memory = await ReplayMemory.load(this.opts.dataDir, this.now(), m => { this.print(`control replay memory: ${m}`) })
      this.verifier = new ControlVerifier(this.opts.authorisedKey, { now: this.now, memory })
    }
    this.self = { peer: peerId, job: this.opts.job, boot: this.boot }
  }

  private print (line: string): void { this.opts.print?.(line) }

  private release (): void {
    const r = this.resume
    this.resume = []
    for (const f of r) f()
  }

  /**
   * Control handlers: `fault` (body: FaultCommand) and `fault-clear`. A command is verified,
   * its body validated, and its id written to the replay memory before it is acted on (a crash
   * in between leaves it recorded, never obeyed twice); a refusal throws, with its reason.
   */
  get handlers (): Record<string, (req: ControlRequest) => Promise<unknown>> {
    const guarded = <T>(prepare: (req: ControlRequest) => () => T) => async (req: ControlRequest): Promise<T> => {
      let act: () => T
      try {
        if (this.verifier === null) throw new ControlAuthError('this peer obeys no control key (start it with --control-key FILE)', 'no-key')
        if (this.self === null) throw new ControlAuthError('this peer is still starting; try again', 'starting')
        this.verifier.check(req, this.self)
        act = prepare(req)
        try { await this.verifier.memory.persist(this.now()) } catch (err) {
          throw new ControlAuthError(`cannot record the command in the replay memory, so it is not obeyed: ${(err as Error).message}`, 'memory-write')
        }
      } catch (err) {
        this.noteRefusal(req, err as Error)
        throw err
      }
      this.counters.commandsAccepted++
      return act()
    }
    return {
      fault: guarded(req => { const cmd = parseFaultCommand(req.body); return () => this.apply(cmd) }),
      'fault-clear': guarded(() => (): FaultCleared => { this.clear(); return { cleared: true } })
    }
  }

  /** Count a refusal by reason; debug-log each, print at most one line per REFUSAL_PRINT_INTERVAL_MS. */
  private noteRefusal (req: ControlRequest, err: Error): void {
    const reason: RefusalReason = err instanceof ControlAuthError && err.reason !== undefined ? err.reason : 'bad-command'
    this.counters.commandsRefused++
    this.refused[reason] = (this.refused[reason] ?? 0) + 1
    this.log('refused %s (%s): %s', req.type, reason, err.message)
    const t = this.now()
    if (t - this.lastRefusalPrint < REFUSAL_PRINT_INTERVAL_MS) { this.unprintedRefusals++; return }
    const more = this.unprintedRefusals > 0 ? ` (${this.unprintedRefusals} more refused since the last report)` : ''
    this.print(`refused control command '${req.type}': ${err.message}${more}`)
    this.lastRefusalPrint = t
    this.unprintedRefusals = 0
  }

  apply (cmd: FaultCommand): FaultApplied {
    this.history.push({ at: this.now(), kind: cmd.kind, seed: cmd.seed })
    this.print(`fault ${cmd.kind} (seed ${cmd.seed}) applied`)
    switch (cmd.kind) {
      case 'soft-error': {
        const D = COMMAND_DEFAULTS
        const se = { ...cmd, rate: cmd.rate ?? D.rate, errorKind: cmd.errorKind ?? D.errorKind, magnitude: cmd.magnitude ?? D.magnitude, site: cmd.site ?? D.site }
        const opts: FaultInjectorOptions = {
          seed: se.seed,
          rate: se.rate,
          kind: se.errorKind,
          magnitude: se.magnitude,
          model: DEFAULT_SOFT_ERRORS.model,
          ...(se.site === 'any' ? {} : { sites: [se.site] })
        }
        this.active.softError = { ...se, injector: createFaultInjector(opts) }
        break
      }
      case 'straggler': this.active.straggler = { ...cmd, delayMs: cmd.delayMs ?? COMMAND_DEFAULTS.delayMs }; break
      case 'pause': this.active.pause = cmd; break
      case 'byzantine': this.active.byzantine = { ...cmd, magnitude: cmd.magnitude ?? COMMAND_DEFAULTS.magnitude }; break
      case 'garbage-frames': this.active.garbage = cmd; break
      case 'partition': {
        const self = this.joinedCtx?.self ?? -1
        this.active.partition = { ...cmd, blocked: self < 0 ? [] : [...partitionBlocks(cmd, self, this.peers)] }
        break
      }
      case 'crash':
        // Answer first, then die the way a crashed machine does: no goodbye to anyone.
        setTimeout(() => { this.opts.exit(CRASH_EXIT_CODE) }, 200)
        break
    }
    return { applied: cmd.kind, active: this.activeKinds() }
  }

  clear (): void {
    for (const k of Object.keys(this.active) as Array<keyof ActiveFaults>) this.active[k] = null
    for (const s of this.garbageStreams.values()) { try { s.abort(new Error('garbage-frames cleared')) } catch {} }
    this.garbageStreams.clear()
    this.release()
    this.print('faults cleared')
  }

  activeKinds (): FaultKind[] {
    const a = this.active
    const out: FaultKind[] = []
    if (a.softError !== null) out.push('soft-error')
    if (a.straggler !== null) out.push('straggler')
    if (a.pause !== null) out.push('pause')
    if (a.partition !== null) out.push('partition')
    if (a.byzantine !== null) out.push('byzantine')
    if (a.garbage !== null) out.push('garbage-frames')
    return out
  }

  joined (ctx: JoinedContext): void {
    this.joinedCtx = ctx
    this.peers = ctx.members.length
    this.missing = new Array(this.peers).fill(0)
    this.late = new Array(this.peers).fill(0)
    const p = this.active.partition
    if (p !== null) p.blocked = [...partitionBlocks(p, ctx.self, this.peers)]
  }

  /** The trainer's injector: the engine's own, then soft errors and byzantine offsets from commands. */
  wrapInjector (base: FaultInjector): FaultInjector {
    const self = this
    return {
      options: base.options,
      get injected () { return base.injected + self.softErrors + self.byzantineResults },
      bySite: base.bySite,
      events: base.events,
      inject (site: FaultSite, data: Float64Array, ctx: FaultContext): boolean {
        let hit = base.inject(site, data, ctx)
        const se = self.active.softError
        if (se !== null && se.injector.inject(site, data, ctx)) { self.softErrors++; hit = true }
        const bz = self.active.byzantine
        if (bz !== null && site === 'matmul') {
          // The same offset every round for the same (layer, phase): a coherent wrong answer.
          byzantineOffset(data, bz.seed, bz.magnitude ?? COMMAND_DEFAULTS.magnitude, ctx)
          self.byzantineResults++
          hit = true
        }
        return hit
      }
    }
  }

  /** The trainer's exchange: delays, pauses, partitions, garbage frames, missing-result counters. */
  wrapExchange (inner: Exchange): Exchange {
    const self = this
    const others = (): number[] => Array.from({ length: inner.peers }, (_, i) => i).filter(i => i !== inner.self)
    return {
      get self () { return inner.self },
      get peers () { return inner.peers },
      positions: () => inner.positions(),
      get heard () { return inner.heard },
      async publish (key: RoundKey, payload: Matrix, to?: readonly number[], opts?: PublishOptions): Promise<void> {
        if (self.active.pause !== null && self.opts.signal?.aborted !== true) {
          const t0 = Date.now()
          await new Promise<void>(resolve => { self.resume.push(resolve) })
          self.counters.pausedMs += Date.now() - t0
        }
        const st = self.active.straggler
        if (st !== null) { self.counters.delayedPublishes++; await sleep(st.delayMs ?? COMMAND_DEFAULTS.delayMs, self.opts.signal) }
        if (self.active.garbage !== null) await self.sendGarbage()
        const blocked = self.active.partition?.blocked ?? []
        if (blocked.length > 0) {
          const dest = (to ?? others()).filter(i => !blocked.includes(i))
          self.counters.partitionDropped += (to ?? others()).length - dest.length
          if (dest.length === 0) return
          await inner.publish(key, payload, dest, opts)
          return
        }
        await inner.publish(key, payload, to, opts)
      },
      async collect (key: RoundKey, policy: CollectPolicy): Promise<Collected> {
        const c = await inner.collect(key, policy)
        for (const j of self.active.partition?.blocked ?? []) {
          if (c.results.delete(j)) self.counters.partitionDropped++
          c.arrivalMs.delete(j)
        }
        // Only the rounds every peer publishes in say who is missing.
        if (key.phase === 'forward' || key.phase === 'backward') {
          for (let j = 0; j < self.missing.length; j++) if (j !== inner.self && !c.results.has(j)) self.missing[j]++
          const times = [...c.arrivalMs.values()].sort((a, b) => a - b)
          const at = times[Math.min(times.length - 1, Math.max(0, policy.threshold - 1))]
          for (const [j, ms] of c.arrivalMs) if (j !== inner.self && at !== undefined && ms > at + 1) self.late[j] = (self.late[j] ?? 0) + 1
        }
        return c
      },
      prune (step: number): void { inner.prune(step) }
    }
  }

  private async sendGarbage (): Promise<void> {
    const ctx = this.joinedCtx
    if (ctx === null) return
    await Promise.all(ctx.members.map(async (m, j) => {
      if (j === ctx.self) return
      try {
        let s = this.garbageStreams.get(j)
        if (s === undefined || s.status !== 'open') {
          s = await ctx.dialProtocol(m, ctx.resultsProtocol, { signal: AbortSignal.timeout(1000) })
          this.garbageStreams.set(j, s)
        }
        // A well-formed length prefix around random bytes: the receiver must drop the frame,
        // lower our score, and stay in sync.
        const junk = randomBytes(64 + Math.floor(Math.random() * 192))
        s.send(lengthPrefixed(junk))
        this.counters.garbageFramesSent++
      } catch (err) {
        this.garbageStreams.delete(j)
        this.log('garbage frame to %d not sent: %s', j, (err as Error).message)
      }
    }))
  }

  status (): ControllerStatus {
    const a = this.active
    return {
      authorised: this.verifier !== null,
      boot: this.boot,
      active: this.activeKinds(),
      params: {
        softError: a.softError === null ? null : { rate: a.softError.rate, kind: a.softError.errorKind, magnitude: a.softError.magnitude, site: a.softError.site, seed: a.softError.seed },
        straggler: a.straggler === null ? null : { delayMs: a.straggler.delayMs },
        partition: a.partition === null ? null : { blocked: a.partition.blocked },
        byzantine: a.byzantine === null ? null : { magnitude: a.byzantine.magnitude, seed: a.byzantine.seed }
      },
      injected: { softErrors: this.softErrors, byzantineResults: this.byzantineResults },
      counters: { ...this.counters },
      refused: { ...this.refused },
      missing: [...this.missing],
      late: [...this.late],
      commands: this.history.slice(-32)
    }
  }

  close (): void {
    this.release()
    for (const s of this.garbageStreams.values()) { try { s.abort(new Error('closing')) } catch {} }
    this.garbageStreams.clear()
  }
}

export function createFaultController (opts: FaultControllerOptions): FaultController {
  return new FaultController(opts)
}
