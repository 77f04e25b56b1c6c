import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { expectedPerPeer, formatScalingTable, runScalingBench, type ScalingBenchResult } from './scaling.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-scaling-test-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('codenet bench scaling', () => {
  it('runs one testnet per point and writes the table, the JSON and the SVG (the width axis only: two runs)', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const json = join(dir, 'scaling.json'); const svg = join(dir, 'scaling.svg')
    const result = await runScalingBench({ out, json, svg, quick: true, peers: [], widths: [16, 32], widthPeers: 3, steps: 6, widthSteps: 6, batch: 4, timeoutMs: 120_000 })
    const res = JSON.parse(readFileSync(json, 'utf8')) as ScalingBenchResult
    expect(res).toEqual(JSON.parse(JSON.stringify(result)))
    expect(res.benchmark).toBe('scaling')
    expect(res.peersAxis).toEqual([])
    expect(res.widthAxis.map(p => [p.axis, p.peers, p.width, p.model.join('-')])).toEqual([['width', 3, 16, '16-16-10'], ['width', 3, 32, '32-32-10']])
    for (const p of res.widthAxis) {
      expect(p.attemptedSteps).toBe(6)
      for (const x of [p.stepMsMedian, p.cpuPerStepMs, p.cpuPerPeerStepMs, p.bytesPerStep, p.bytesPerPeerStep, p.expected.computePerPeer, p.expected.trafficPerPeer]) expect(x).toBeGreaterThan(0)
      expect(p.cpuPerPeerStepMs).toBeCloseTo(p.cpuPerStepMs / 3, 6)
      expect(p.expected).toEqual(expectedPerPeer(p.model, 3, p.code.m, p.code.n, 4, 6))
      // Results and the final round, float64: the bytes sent are at least that (headers, audits and gossip on top).
      expect(p.bytesPerPeerStep).toBeGreaterThanOrEqual(p.expected.bytesPerPeerStep)
      expect(p.error).toBeNull()
      expect(p.note).toBeNull()
      expect(p.peersFinished).toBe(3)
    }
    expect(res.widthAxis[0].growth).toEqual({ stepMs: 1, cpuPerPeer: 1, bytesPerPeer: 1, expectedCompute: 1, expectedTraffic: 1 })
    const g = res.widthAxis[1].growth
    expect(g.bytesPerPeer).toBeCloseTo(res.widthAxis[1].bytesPerPeerStep / res.widthAxis[0].bytesPerPeerStep, 6)
    // 32-32-10 against 16-16-10: weights 1344/416.
    expect(g.expectedCompute).toBeCloseTo(1344 / 416, 6)
    expect(g.expectedTraffic).toBeCloseTo(res.widthAxis[1].expected.bytesPerPeerStep / res.widthAxis[0].expected.bytesPerPeerStep, 6)
    const plot = readFileSync(svg, 'utf8')
    expect(plot).toMatch(/^<svg /)
    expect(plot).toContain('class="bytesPerPeer"')
    expect(plot).toContain('expected traffic')
    expect(plot).toContain('against P: no points')
    expect(text).toContain(formatScalingTable(res))
  }, 180_000)
})

describe('expectedPerPeer', () => {
  it('counts a shard\'s multiply-adds and the values a peer sends', () => {
    // 784-128-64-10, 8 peers, 2×2, batch 16, 100 steps: weights 784·128 + 128·64 + 64·10;
    // forward results (128 + 64 + 10)/m, backward results (128 + 64)/n.
    const weights = 100352 + 8192 + 640
    const traffic = 7 * (202 / 2 + 192 / 2) * 16
    expect(expectedPerPeer([784, 128, 64, 10], 8, 2, 2, 16, 100)).toEqual({
      computePerPeer: weights * 16 / 4, trafficPerPeer: traffic, finalRoundPerPeer: 7 * weights / 4, bytesPerPeerStep: 8 * (traffic + 7 * weights / 4 / 100)
    })
    // m ≠ n: forward results split by m, backward by n.
    expect(expectedPerPeer([64, 32, 10], 6, 2, 1, 8, 10).trafficPerPeer).toBe(5 * (42 / 2 + 32 / 1) * 8)
  })
})
