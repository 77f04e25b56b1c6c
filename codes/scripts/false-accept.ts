/**
 * Measured false-accept rates of PolyDot decoding, per cell of
 *   errors   random (independent: gaussian, huge, tiny, NaN, Inf, and — within the adversarial
 *            bound — zero, bit flip, copy, negation; a quarter of the trials instead place
 *            every error at the highest-leverage peers, each sized to sit just within the
 *            tolerance) | coordinated (colluders add one common polynomial of degree < Q, so
 *            their results lie on another code word; size log-uniform 1e-12…10 × the results'
 *            scale, direction random or the one smallest on the honest points)
 *   bound    within | beyond — random errors: the mode's bound (adversarial ⌊(R−Q)/2⌋,
 *            probabilistic R−Q−1) vs more, up to R; coordinated: 1…⌊(R−Q)/2⌋ colluders vs
 *            exactly ⌊(R−Q)/2⌋ + 1 ("just beyond")
 *   mode     adversarial | probabilistic
 * over every code the job validator accepts with P ≤ --max-peers (codes/testing.ts
 * acceptedCodes), a random phase, R uniform in Q+1…P results from a random or a clustered
 * (adjacent Chebyshev points) subset of peers. A trial is "silent" when the decode is accepted
 * and more than 1e-6 (training/simulate.ts SILENT_TOLERANCE) off the truth; "other word" counts
 * the silent ones that are exactly the colluders' code word (beyond the bound only).
 *
 *   npx node codes/scripts/false-accept.ts [--trials 20000] [--max-peers 16] [--seed 1]
 *        [--training] [--only errors/bound/mode] [--json out.json] [--markdown table.md]
 *   npx node codes/scripts/false-accept.ts --honest [--trials 400]
 *        (what the leverage bound costs: the share of error-free decodes accepted, by R − Q,
 *        for the default code of each P and over every accepted code; random and clustered
 *        subsets)
 *
 * Run with the project's Node 24 (`npx node`, or node_modules/.bin/node).
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { gemm } from '../gemm/index.ts'
import { type Matrix, relativeError, transpose } from '../matrix.ts'
import { mulberry32 } from '../random.ts'
import type { DecodeMode, Phase } from '../scheme.ts'
import { chooseCode } from '../index.ts'
import {
  type DecoderErrorKind, DECODER_ERROR_KINDS, acceptedCodes, cluster, collude, corrupt, leverageErrors, polydot, randomMatrix, sample
} from '../testing.ts'

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20000' },
    'max-peers': { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
    markdown: { type: 'string' },
    honest: { type: 'boolean', default: false },
    /**
     * Decode as training does: colluders = the job's f = ⌊(P − max Q)/2⌋, so an agreeing set
     * needs Q + f results. Adds the count of silent trials whose colluders were at most f.
     */
    training: { type: 'boolean', default: false },
    /** Run only the cells whose "errors/bound/mode" contains this (e.g. coordinated/within). */
    only: { type: 'string', default: '' }
  },
  strict: true
})
const TRIALS = Number(values.trials)
const MAX_PEERS = Number(values['max-peers'])
const SEED = Number(values.seed)
const SILENT = 1e-6
const RANDOM_KINDS: DecoderErrorKind[] = ['gaussian', 'huge', 'tiny', 'nan', 'inf']

type ErrorModel = 'random' | 'coordinated'
type Bound = 'within' | 'beyond'
interface Cell {
  errors: ErrorModel
  bound: Bound
  mode: DecodeMode
  trials: number
  /** Accepted and within 1e-6 of the truth (corrected, or no error to correct). */
  right: number
  refused: number
  /** Accepted and more than 1e-6 off the truth. */
  silent: number
  /** Of the silent ones: exactly the colluders' code word. */
  otherWord: number
  /** Largest relative error of a silent decode. */
  worstSilent: number
  /** Trials with at least one error in the results. */
  withErrors: number
  /** Coordinated errors: trials with at most f colluders (the job's f), and those of them silent. */
  withinF: number
  silentWithinF: number
  ms: number
}

const CODES = acceptedCodes(MAX_PEERS)

function trial (cell: Cell, rng: () => number, n: number): void {
  for (;;) {
    const [P, m, nn] = CODES[Math.floor(rng() * CODES.length)]
    const s = polydot(P, m, nn)
    const phase: Phase = rng() < 0.5 ? 'forward' : 'backward'
    const Q = s.recoveryThreshold[phase]
    const R = Q + 1 + Math.floor(rng() * (P - Q))
    const t = Math.floor((R - Q) / 2)
    const modeBound = cell.mode === 'adversarial' ? t : R - Q - 1
    let e: number
    if (cell.errors === 'random') {
      if (cell.bound === 'within') e = Math.floor(rng() * (modeBound + 1))
      else { if (modeBound + 1 > R) continue; e = modeBound + 1 + Math.floor(rng() * (R - modeBound)) }
    } else {
      if (cell.bound === 'within') { if (t < 1) continue; e = 1 + Math.floor(rng() * t) } else e = t + 1
    }
    const present = rng() < 0.5 ? cluster(P, R, rng) : sample(P, R, rng)
    const B = 1 + Math.floor(rng() * 3)
    const seed = SEED * 1_000_003 + n * 7
    const W = randomMatrix(3 * m, 3 * nn, seed)
    const inp = randomMatrix(phase === 'forward' ? 3 * nn : 3 * m, B, seed + 1)
    const truth: Matrix = phase === 'forward' ? gemm(W, inp) : gemm(transpose(W), inp)
    const ys: Matrix[] = []
    for (let p = 0; p < P; p++) {
      ys.push(s.compute(phase, s.encodeShard(W, p), phase === 'forward' ? s.encodeForwardInput(inp, p) : s.encodeBackwardInput(inp, p)))
    }
    let results: Map<number, Matrix>
    let other: (() => Matrix | null) = () => null
    if (cell.errors === 'random') {
      if (e > 0 && rng() < 0.25) {
        results = leverageErrors(ys, s.points, present, Q, e, s.tolerance(phase), 0.3 + 0.69 * rng(), rng).results
      } else {
        results = new Map(present.map(p => [p, ys[p]]))
        const kinds = cell.bound === 'beyond' || cell.mode === 'probabilistic' ? RANDOM_KINDS : DECODER_ERROR_KINDS
        for (const i of sample(R, e, rng)) {
          const p = present[i]
          const kind = kinds[Math.floor(rng() * kinds.length)]
          results.set(p, corrupt(ys[p], kind, rng, ys[present[(i + 1) % R]], 1e3 * s.tolerance(phase)))
        }
      }
    } else {
      const colluders = rng() < 0.5
        ? [...present.slice(0, Math.ceil(e / 2)), ...present.slice(R - Math.floor(e / 2))]
        : sample(R, e, rng).map(i => present[i])
      const size = 10 ** (-12 + 13 * rng())
      const c = collude(ys, s.points, present, colluders, Q, size, rng() < 0.5 ? 'random' : 'hidden', rng)
      results = c.results
      other = () => {
        const all = new Map(ys.map((y, p) => [p, { rows: y.rows, cols: y.cols, data: y.data.map((v, k) => v + c.shift(p)[k]) }]))
        const d = s.decode(phase, all, { mode: 'adversarial' })
        return d.ok ? d.value : null
      }
    }
    cell.trials++
    if (e > 0) cell.withErrors++
    const f = Math.max(0, Math.floor((P - Math.max(s.recoveryThreshold.forward, s.recoveryThreshold.backward)) / 2))
    const withinF = cell.errors === 'coordinated' && e <= f
    if (withinF) cell.withinF++
    const d = s.decode(phase, results, { mode: cell.mode, ...(values.training ? { colluders: f } : {}) })
    if (!d.ok) { cell.refused++; return }
    const err = relativeError(d.value, truth)
    if (err <= SILENT) { cell.right++; return }
    cell.silent++
    if (withinF) cell.silentWithinF++
    cell.worstSilent = Math.max(cell.worstSilent, err)
    const o = other()
    if (o !== null && relativeError(d.value, o) <= SILENT) cell.otherWord++
    if (process.env.DEBUG_FALSE_ACCEPT !== undefined) {
      console.error({ cell: `${cell.errors}/${cell.bound}/${cell.mode}`, P, m, n: nn, phase, Q, R, e, present, err, used: d.used, faulty: d.faulty })
      writeFileSync(`${process.env.DEBUG_FALSE_ACCEPT}-${cell.errors}-${cell.bound}-${cell.mode}-${n}.json`, JSON.stringify({
        P, m, n: nn, phase, results: [...results].map(([p, y]) => [p, y.rows, y.cols, [...y.data]]), truth: [...truth.data], honest: present.map(p => [p, [...ys[p].data]])
      }))
    }
    return
  }
}

if (values.honest) {
  honestAcceptance()
  process.exit(0)
}

/** Error-free decodes: the share accepted, by R − Q, random and clustered subsets, both phases. */
function honestAcceptance (): void {
  const trials = Number(values.trials === '20000' ? 400 : values.trials)
  const maxGap = 6
  const tally = (codes: Array<[number, number, number]>): { random: number[][], clustered: number[][] } => {
    const t = { random: [] as number[][], clustered: [] as number[][] }
    for (let g = 1; g <= maxGap; g++) { t.random.push([0, 0]); t.clustered.push([0, 0]) }
    const rng = mulberry32(SEED)
    for (let n = 0; n < trials * codes.length; n++) {
      const [P, m, nn] = codes[n % codes.length]
      const s = polydot(P, m, nn)
      const phase: Phase = rng() < 0.5 ? 'forward' : 'backward'
      const Q = s.recoveryThreshold[phase]
      const gap = 1 + Math.floor(rng() * Math.min(maxGap, P - Q))
      const clustered = rng() < 0.5
      const present = clustered ? cluster(P, Q + gap, rng) : sample(P, Q + gap, rng)
      const W = randomMatrix(3 * m, 3 * nn, n)
      const inp = randomMatrix(phase === 'forward' ? 3 * nn : 3 * m, 2, n + 1)
      const results = new Map(present.map(p => [p, s.compute(phase, s.encodeShard(W, p), phase === 'forward' ? s.encodeForwardInput(inp, p) : s.encodeBackwardInput(inp, p))]))
      const row = (clustered ? t.clustered : t.random)[gap - 1]
      row[1]++
      if (s.decode(phase, results).ok) row[0]++
    }
    return t
  }
  const pct = (r: number[]): string => r[1] === 0 ? '–' : `${(100 * r[0] / r[1]).toFixed(1)} %`
  const head = `| codes | subsets | ${Array.from({ length: maxGap }, (_, g) => `R = Q+${g + 1}`).join(' | ')} |`
  const lines = [head, `|---|---|${Array.from({ length: maxGap }, () => '---').join('|')}|`]
  const defaults: Array<[number, number, number]> = []
  for (let P = 6; P <= MAX_PEERS; P += 2) { const c = chooseCode(P); defaults.push([P, c.m, c.n]) }
  for (const [name, codes] of [[`default (chooseCode, P = 6, 8, …, ${MAX_PEERS})`, defaults], [`all ${CODES.length} accepted, P ≤ ${MAX_PEERS}`, CODES]] as const) {
    const t = tally([...codes])
    lines.push(`| ${name} | random | ${t.random.map(pct).join(' | ')} |`)
    lines.push(`| ${name} | clustered | ${t.clustered.map(pct).join(' | ')} |`)
  }
  console.log(lines.join('\n'))
  console.log(`\nerror-free decodes accepted (probabilistic mode; the rest refused by the leverage bound), ${trials} trials per code, seed ${SEED}`)
}

const cells: Cell[] = []
for (const errors of ['random', 'coordinated'] as const) {
  for (const bound of ['within', 'beyond'] as const) {
    for (const mode of ['adversarial', 'probabilistic'] as const) {
      cells.push({ errors, bound, mode, trials: 0, right: 0, refused: 0, silent: 0, otherWord: 0, worstSilent: 0, withErrors: 0, withinF: 0, silentWithinF: 0, ms: 0 })
    }
  }
}
const t0 = performance.now()
for (const [k, cell] of cells.entries()) {
  if (!`${cell.errors}/${cell.bound}/${cell.mode}`.includes(values.only)) continue
  const rng = mulberry32(SEED * 131 + k)
  const c0 = performance.now()
  for (let n = 0; n < TRIALS; n++) trial(cell, rng, n)
  cell.ms = performance.now() - c0
  process.stderr.write(`${cell.errors} ${cell.bound} ${cell.mode}: ${cell.trials} trials, ${cell.right} right, ${cell.refused} refused, ${cell.silent} silent (${cell.otherWord} the other code word) in ${(cell.ms / 1000).toFixed(1)} s\n`)
}

const rate = (x: number, n: number): string => n === 0 ? '–' : x === 0 ? `0 (< ${(3 / n).toExponential(1)} at 95 %)` : (x / n).toExponential(2)
const lines = [
  `| errors | bound | mode | trials | with errors | accepted right | refused | silent | silent rate | of which the other code word | worst silent error | ≤ f colluders: trials / silent |`,
  `|---|---|---|---|---|---|---|---|---|---|---|---|`,
  ...cells.map(c => `| ${c.errors} | ${c.bound} | ${c.mode} | ${c.trials.toLocaleString('en-US')} | ${c.withErrors.toLocaleString('en-US')} | ${c.right.toLocaleString('en-US')} | ${c.refused.toLocaleString('en-US')} | ${c.silent} | ${rate(c.silent, c.trials)} | ${c.otherWord} | ${c.silent === 0 ? '–' : c.worstSilent.toExponential(1)} | ${c.errors === 'coordinated' ? `${c.withinF.toLocaleString('en-US')} / ${c.silentWithinF}` : '–'} |`)
]
const table = lines.join('\n')
console.log(table)
console.log(`\n${CODES.length} codes (P ≤ ${MAX_PEERS}), ${TRIALS} trials per cell, seed ${SEED}${values.training ? ', decoded as training does (colluders = f)' : ''}, ${((performance.now() - t0) / 1000).toFixed(0)} s, node ${process.version}`)
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ trials: TRIALS, maxPeers: MAX_PEERS, seed: SEED, codes: CODES.length, silentTolerance: SILENT, cells }, null, 2) + '\n')
if (values.markdown !== undefined) writeFileSync(values.markdown, table + '\n')
