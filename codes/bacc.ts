/**
 * BACC: Berrut approximate coded computing (Jahani-Nezhad & Maddah-Ali, 2021).
 *
 * K data blocks X_j sit at the Chebyshev points α_j = cos((2j+1)π/(2K)); the encoder is
 * their Berrut rational interpolant u(z) = Σ_j X_j w_j/(z − α_j) / Σ_j w_j/(z − α_j),
 * w_j = (−1)^j, evaluated at the P worker points z_p = cos(pπ/(P−1)) (second kind). Worker p
 * applies any function f to u(z_p). From any subset of results, the decoder Berrut-
 * interpolates the received f(u(z_p)) and evaluates at α_j ≈ f(X_j). Berrut's interpolant
 * has no poles on the real line for any point set, so decoding is stable from any subset,
 * but it is approximate: offered for functions no exact code handles, never used for the
 * exact weight products.
 */
import { type Matrix, ShapeError, zeros } from './matrix.ts'
import { CodeConfigError, CodeInputError, UncorrectableError } from './errors.ts'

/** Berrut weights (−1)^rank over points sorted by value; a point equal to x is returned exactly. */
function berrutCoefficients (nodes: ArrayLike<number>, x: number): Float64Array {
  const order = Array.from({ length: nodes.length }, (_, i) => i).sort((a, b) => nodes[a] - nodes[b])
  const out = new Float64Array(nodes.length)
  for (const i of order) {
    if (x === nodes[i]) { out[i] = 1; return out }
  }
  let sum = 0
  order.forEach((i, rank) => {
    const w = (rank % 2 === 0 ? 1 : -1) / (x - nodes[i])
    out[i] = w; sum += w
  })
  for (let i = 0; i < out.length; i++) out[i] /= sum
  return out
}

function combine (weights: Float64Array, parts: ReadonlyArray<Matrix>): Matrix {
  const out = zeros(parts[0].rows, parts[0].cols)
  for (let k = 0; k < parts.length; k++) {
    const w = weights[k]
    if (w === 0) continue
    const d = parts[k].data
    if (d.length !== out.data.length) throw new ShapeError('BACC: blocks differ in shape')
    for (let i = 0; i < d.length; i++) out.data[i] += w * d[i]
  }
  return out
}

export class BerrutCode {
  readonly blocks: number
  readonly peers: number
  readonly dataPoints: Float64Array
  readonly workerPoints: Float64Array

  constructor (blocks: number, peers: number) {
    if (!Number.isInteger(blocks) || blocks < 1) throw new CodeConfigError(`BACC: blocks must be a positive integer, got ${blocks}`)
    if (!Number.isInteger(peers) || peers < 2) throw new CodeConfigError(`BACC: needs at least 2 peers, got ${peers}`)
    this.blocks = blocks; this.peers = peers
    this.dataPoints = Float64Array.from({ length: blocks }, (_, j) => Math.cos((2 * j + 1) * Math.PI / (2 * blocks)))
    this.workerPoints = Float64Array.from({ length: peers }, (_, p) => Math.cos(p * Math.PI / (peers - 1)))
  }

  /** u(z_p): what worker p applies f to. */
  encode (data: ReadonlyArray<Matrix>, peer: number): Matrix {
    if (data.length !== this.blocks) throw new CodeInputError(`BACC: ${data.length} blocks, expected ${this.blocks}`)
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.peers) throw new CodeInputError(`peer ${peer} is not in 0..${this.peers - 1}`)
    return combine(berrutCoefficients(this.dataPoints, this.workerPoints[peer]), data)
  }

  /** ≈ f(X_j) for every block j from whatever results arrived (at least one). */
  decode (results: ReadonlyMap<number, Matrix>): Matrix[] {
    const peers = [...results.keys()].sort((a, b) => a - b)
    if (peers.length === 0) throw new UncorrectableError('BACC: no results')
    for (const p of peers) if (!Number.isInteger(p) || p < 0 || p >= this.peers) throw new CodeInputError(`peer ${p} is not in 0..${this.peers - 1}`)
    const nodes = Float64Array.from(peers, p => this.workerPoints[p])
    const parts = peers.map(p => results.get(p)!)
    return Array.from(this.dataPoints, a => combine(berrutCoefficients(nodes, a), parts))
  }
}

export function createBerrutCode (blocks: number, peers: number): BerrutCode {
  return new BerrutCode(blocks, peers)
}
