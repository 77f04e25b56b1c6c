/**
 * A testnet peer's V8 CPU profile (`--cpu-prof`, whole process) summarised as self time per
 * function and per part of the work: the maths (GEMM, encode, decode + detect, update) against
 * the protocol (exchange, transport, encryption, gossip, agreement, serialisation, GC).
 *
 * A sample belongs to the part its innermost codenet frame belongs to, so a socket write under
 * the result exchange is protocol, and an allocation inside the GEMM is maths:
 *   maths     codes/ (the codes, decoders, GEMM and its WASM), the trainer's arithmetic
 *             (training/trainer/compute.ts, state.ts, weights.ts, audit.ts), the model, loss,
 *             activations, recovery, evaluation
 *   protocol  node/, protocols/, the rest of training/ (collect rule, agreement, step and round
 *             orchestration, resync, checkpoints), and whatever runs with no codenet frame on the
 *             stack (libp2p's event handlers, timers, Node's runtime)
 *   data      training/mnist.ts, synthetic.ts, dataset.ts, data/ (the batches)
 * Helpers used by both sides (codes/stats.ts, codes/matrix.ts, training/trainer/rounds.ts, which
 * holds the timers) take the part of their caller. Protocol samples are reported by where their
 * own function lives (codenet protocol, libp2p & dependencies, node runtime, native / V8); the
 * garbage collector is its own group.
 *
 * Several profiles (every peer of a run) add up into one summary: the bootstrap peer is not
 * like the others (every peer dials it first, over TCP, and keeps that connection).
 *
 * Only the training counts: samples from the first one with the trainer (training/trainer/) on
 * its stack to the end. Before it the process loads its modules, its data and joins; that
 * startup time is reported apart (`startupMs`).
 */
import { fileURLToPath } from 'node:url'
import type { CpuProfile } from './exchange.ts'

export type ProfileGroup = 'maths' | 'data loading' | 'codenet protocol' | 'libp2p & dependencies' | 'node runtime' | 'garbage collector' | 'native / V8'

export interface PeerProfileEntry {
  function: string
  location: string
  group: ProfileGroup
  selfMs: number
  /** Of the profile's non-idle time. */
  selfPercent: number
}

export interface PeerProfileSummary {
  /** Before the trainer first ran (module loading, data, join): not in the figures below. */
  startupMs: number
  /** From the trainer's first sample to the end. */
  totalMs: number
  idleMs: number
  top: PeerProfileEntry[]
  groups: Array<{ group: ProfileGroup, selfMs: number, selfPercent: number }>
  /** Maths / (busy time outside data loading). */
  mathsShare: number
}

/** A .cpuprofile with the call tree (each node's children). */
export type TreeCpuProfile = CpuProfile & { nodes: Array<CpuProfile['nodes'][number] & { children?: number[] }> }

type Role = 'maths' | 'protocol' | 'data' | 'transparent' | null

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TRAINER = '/training/trainer/'
const DATA = /^training\/(mnist|synthetic|dataset|batches)\.ts$|^training\/data\//
const TRANSPARENT = /^codes\/(stats|matrix)\.ts$|^training\/trainer\/rounds\.ts$/
const MATHS = /^codes\/|^training\/trainer\/(compute|state|weights|audit)\.ts$|^training\/(model|loss|activations|recovery|evaluate|schedule)\.ts$/

/** A script's path in this repository, or null (node_modules, node:, native, wasm). */
function repoPath (url: string): string | null {
  if (!url.startsWith('file://')) return null
  const path = url.slice('file://'.length)
  if (path.includes('/node_modules/') || !path.startsWith(ROOT)) return null
  return path.slice(ROOT.length)
}

/** The part of the work a frame of this script is, or null when it is not codenet's. */
function roleOf (url: string): Role {
  if (url.startsWith('wasm://')) return 'maths'
  const rel = repoPath(url)
  if (rel === null) return null
  if (DATA.test(rel)) return 'data'
  if (TRANSPARENT.test(rel)) return 'transparent'
  return MATHS.test(rel) ? 'maths' : 'protocol'
}

/** Where a function lives and its group by that alone (its own code, whoever called it). */
export function classify (functionName: string, url: string): { location: string, group: ProfileGroup } {
  if (url === '') return { location: '(native)', group: functionName === '(garbage collector)' ? 'garbage collector' : 'native / V8' }
  if (url.startsWith('node:')) return { location: url, group: 'node runtime' }
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) return { location: path.slice(nm + '/node_modules/'.length), group: 'libp2p & dependencies' }
  const role = roleOf(url)
  const location = path.startsWith(ROOT) ? path.slice(ROOT.length) : path
  if (role === 'data') return { location, group: 'data loading' }
  if (role === 'maths' || role === 'transparent') return { location, group: 'maths' }
  return { location, group: 'codenet protocol' }
}

/** Several peers' profiles as one: self times added up (each profile's own window and startup). */
export function summarisePeerProfiles (profiles: readonly TreeCpuProfile[], topN = 15): PeerProfileSummary {
  const self = new Map<string, SelfEntry>()
  const t = { totalUs: 0, idleUs: 0, startupUs: 0 }
  for (const p of profiles) accumulate(p, self, t)
  const busyUs = Math.max(1, t.totalUs - t.idleUs)
  const entries = [...self.values()].sort((a, b) => b.us - a.us)
  const groups = new Map<ProfileGroup, number>()
  for (const e of entries) groups.set(e.group, (groups.get(e.group) ?? 0) + e.us)
  const training = busyUs - (groups.get('data loading') ?? 0)
  return {
    startupMs: t.startupUs / 1000,
    totalMs: t.totalUs / 1000,
    idleMs: t.idleUs / 1000,
    top: entries.slice(0, topN).map(e => ({ function: e.function, location: e.location, group: e.group, selfMs: e.us / 1000, selfPercent: 100 * e.us / busyUs })),
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, selfMs: us / 1000, selfPercent: 100 * us / busyUs })),
    mathsShare: training > 0 ? (groups.get('maths') ?? 0) / training : 0
  }
}

export function summarisePeerProfile (p: TreeCpuProfile, topN = 15): PeerProfileSummary {
  return summarisePeerProfiles([p], topN)
}

interface SelfEntry { function: string, location: string, group: ProfileGroup, us: number }

function accumulate (p: TreeCpuProfile, self: Map<string, SelfEntry>, t: { totalUs: number, idleUs: number, startupUs: number }): void {
  const byNode = new Map(p.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // The innermost codenet role on each node's stack (memoised up the tree).
  const stackRole = new Map<number, Role>()
  const roleAt = (id: number): Role => {
    if (stackRole.has(id)) return stackRole.get(id) as Role
    const path: number[] = []
    let cur: number | undefined = id
    let found: Role = null
    while (cur !== undefined) {
      if (stackRole.has(cur)) { found = stackRole.get(cur) as Role; break }
      const r = roleOf(byNode.get(cur)?.callFrame.url ?? '')
      path.push(cur)
      if (r !== null && r !== 'transparent') { found = r; break }
      cur = parent.get(cur)
    }
    for (const n of path) stackRole.set(n, found)
    return found
  }
  const inTrainer = new Map<number, boolean>()
  const trainerOnStack = (id: number): boolean => {
    const known = inTrainer.get(id)
    if (known !== undefined) return known
    const up = parent.get(id)
    const v = (byNode.get(id)?.callFrame.url.includes(TRAINER) ?? false) || (up !== undefined && trainerOnStack(up))
    inTrainer.set(id, v)
    return v
  }
  const start = Math.max(0, p.samples.findIndex(trainerOnStack))

  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i + 1] ?? 0
    const node = byNode.get(p.samples[i])
    if (node === undefined) continue
    if (i < start) { t.startupUs += us; continue }
    t.totalUs += us
    const cf = node.callFrame
    if (cf.functionName === '(idle)') { t.idleUs += us; continue }
    const own = classify(cf.functionName, cf.url)
    const role = roleAt(node.id)
    const group: ProfileGroup = own.group === 'garbage collector'
      ? own.group
      : role === 'maths' ? 'maths' : role === 'data' ? 'data loading' : own.group === 'maths' ? 'codenet protocol' : own.group
    const where = cf.url === '' ? own.location : `${own.location}:${cf.lineNumber + 1}`
    const key = `${cf.functionName}@${where}@${group}`
    const e = self.get(key) ?? { function: cf.functionName === '' ? '(anonymous)' : cf.functionName, location: where, group, us: 0 }
    e.us += us
    self.set(key, e)
  }
}
