/**
 * The codes as a library, imported by the package's name (package.json "exports", resolved by
 * self-reference) the way another project imports them: encode, compute, decode with detection
 * and correction, the coded update, audit and repair (docs/codes.md §Using the codes from
 * another project).
 */
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createScheme, chooseCode, fromRows, matrix, relativeError, type Matrix } from 'codenet/codes'
import * as root from 'codenet'

const random = (rows: number, cols: number, seed: number): Matrix => {
  let s = seed
  return matrix(rows, cols, Array.from({ length: rows * cols }, () => { s = (s * 16807) % 2147483647; return s / 2147483647 - 0.5 }))
}

const matmul = (a: Matrix, b: Matrix): Matrix => {
  const out = matrix(a.rows, b.cols)
  for (let i = 0; i < a.rows; i++) for (let k = 0; k < a.cols; k++) for (let j = 0; j < b.cols; j++) out.data[i * b.cols + j] += a.data[i * a.cols + k] * b.data[k * b.cols + j]
  return out
}

describe("the codes by the package's name (codenet/codes)", () => {
  const P = 6
  const { m, n } = chooseCode(P)
  const code = createScheme({ kind: 'polydot', peers: P, m, n })
  const W = random(8, 5, 1)
  const X = random(5, 3, 2)

  it('encodes, computes and decodes W·X, naming and correcting a wrong peer', () => {
    expect({ m, n }).toEqual({ m: 2, n: 1 })
    expect(code.recoveryThreshold).toEqual({ forward: 2, backward: 3 })
    const shards = Array.from({ length: P }, (_, p) => code.encodeShard(W, p))
    const results = new Map(shards.map((s, p) => [p, code.compute('forward', s, code.encodeForwardInput(X, p))]))
    const wrong = results.get(4) as Matrix
    wrong.data[0] += 3 // a soft error at peer 4
    const r = code.decode('forward', results, { mode: 'adversarial' })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(relativeError(r.value, matmul(W, X))).toBeLessThan(1e-12)
    expect(r.faulty).toEqual([4])
  })

  it('applies the coded update in place, audits and repairs a shard', () => {
    const shards = new Map(Array.from({ length: P }, (_, p) => [p, code.encodeShard(W, p)]))
    const delta = random(8, 3, 3)
    for (const [p, s] of shards) code.applyUpdate(s, delta, X, 0.1, p)
    // W − 0.1·Δ·Xᵀ, decoded from the updated shards without re-encoding anything.
    const Xt = matrix(3, 5, Array.from({ length: 15 }, (_, i) => X.data[(i % 5) * 3 + Math.floor(i / 5)]))
    const dw = matmul(delta, Xt)
    const expected = matrix(8, 5, W.data.map((w, i) => w - 0.1 * dw.data[i]))
    expect(relativeError(code.decodeWeights(shards), expected)).toBeLessThan(1e-12)
    const good = (shards.get(2) as Matrix).data.slice()
    ;(shards.get(2) as Matrix).data[1] += 0.5
    const check = code.checkShards(shards)
    expect(check).toMatchObject({ consistent: false, decidable: true, faulty: [2] })
    const healthy = new Map([...shards].filter(([p]) => p !== 2))
    const repaired = code.repairShard(healthy, 2)
    expect(Math.max(...repaired.data.map((v, i) => Math.abs(v - good[i])))).toBeLessThan(1e-12)
  })

  it('exports the same library as the package root, and plain Node resolves it too', () => {
    expect(root.createScheme).toBe(createScheme)
    expect(root.fromRows).toBe(fromRows)
    // Outside vitest: node's own resolver (self-reference through "exports") with type stripping.
    const cwd = fileURLToPath(new URL('..', import.meta.url))
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { chooseCode, createScheme } from 'codenet/codes'; const c = createScheme({ kind: 'polydot', peers: 6, ...chooseCode(6) }); console.log(JSON.stringify(c.recoveryThreshold))"
    ], { cwd, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({ forward: 2, backward: 3 })
  })
})
