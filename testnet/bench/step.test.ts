import { defaultProcesses } from '../launch.ts'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { formatStepTable, runStepBench, type StepBenchResult } from './step.ts'
import { classify, summarisePeerProfile } from './peer-profile.ts'
import { runCli } from '../testing.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-step-test-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('codenet bench step', () => {
  it('measures simulate and a 3-peer testnet on a tiny job, profiles a peer, and writes the table as JSON', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const file = join(dir, 'step.json')
    const result = await runStepBench({ out, json: file, quick: true, peers: [3], flags: { model: '32-16-10', steps: '8', batch: '8' }, cpuProfDir: join(dir, 'prof'), timeoutMs: 120_000 })
    const json = JSON.parse(readFileSync(file, 'utf8')) as StepBenchResult
    expect(json).toEqual(JSON.parse(JSON.stringify(result)))
    expect(json.benchmark).toBe('step')
    expect(json.flags).toMatchObject({ dataset: 'synthetic', model: '32-16-10', steps: '8', batch: '8', 'error-rate': '0' })
    expect(json.model).toEqual([32, 16, 10])
    expect(json.rows).toHaveLength(1)
    const r = json.rows[0]
    expect(r.peers).toBe(3)
    expect(r.simulate.attemptedSteps).toBe(8)
    expect(r.testnet.peersFinished).toBe(3)
    expect(r.testnet.attemptedSteps).toBe(8)
    for (const x of [r.simulate.cpuPerStepMs, r.simulate.peersCpuPerStepMs, r.simulate.groundTruthPerStepMs, r.testnet.cpuPerStepMs, r.testnet.stepMsMedian, r.testnet.bytesPerStep, r.perPeer.cpuMs, r.perPeer.mathsMs, r.perPeer.timers.mathsMs]) {
      expect(x).toBeGreaterThan(0)
    }
    expect(r.simulate.peersCpuPerStepMs).toBeCloseTo(r.simulate.cpuPerStepMs - r.simulate.groundTruthPerStepMs, 6)
    expect(r.ratio).toBeCloseTo(r.testnet.cpuPerStepMs / r.simulate.peersCpuPerStepMs, 6)
    expect(r.pass).toBe(r.ratio <= 3)
    expect(r.perPeer.cpuMs).toBeCloseTo(r.testnet.cpuPerStepMs / 3, 6)
    expect(r.perPeer.mathsMs + r.perPeer.protocolMs).toBeCloseTo(r.perPeer.cpuMs, 6)
    expect(r.perPeer.pass).toBe(r.perPeer.protocolMs <= r.perPeer.mathsMs)
    expect(json.pass).toBe(r.pass && r.perPeer.pass)
    // One profile per process the peers ran in (one per core, at most 3), with codenet's maths in it.
    expect(r.profile?.files).toHaveLength(defaultProcesses(3))
    for (const f of r.profile?.files ?? []) expect(existsSync(f)).toBe(true)
    expect(r.profile?.top.length).toBeGreaterThan(0)
    expect(r.profile?.groups.map(g => g.group)).toContain('maths')
    expect(r.profile?.startupMs).toBeGreaterThan(0)
    expect(text).toContain(formatStepTable(json))
  }, 180_000)

  it('refuses bad options with a usage error', async () => {
    for (const [argv, msg] of [
      [['step', '--peers', '4,x'], /--peers/],
      [['step', '--peers', '4,4'], /twice/],
      [['step', '--widths', '8'], /--widths/],
      [['scaling', '--widths', '1,2'], /--widths/],
      [['scaling', '--lr', '0.1'], /--lr/],
      [['gemm', '--svg', 'x.svg'], /--svg/],
      [['step', '--peers', '3', '--batch', '0'], /batch/],
      [['scaling', '--peers', 'none', '--widths', 'none', '--width-peers', '1'], /--width-peers/]
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(['bench', ...argv])
      expect(r.code).toBe(2)
      expect(r.err).toMatch(msg)
    }
  })
})

describe('classify (peer profiles)', () => {
  it('tells the maths from the protocol by where a function lives', () => {
    const root = new URL('../../', import.meta.url).href
    expect(classify('gemm', `${root}codes/gemm/index.ts`).group).toBe('maths')
    expect(classify('codedProduct', `${root}training/trainer/compute.ts`).group).toBe('maths')
    expect(classify('adaptiveGrace', `${root}training/collect.ts`).group).toBe('codenet protocol')
    expect(classify('loadMnist', `${root}training/mnist.ts`).group).toBe('data loading')
    expect(classify('publish', `${root}protocols/results.ts`).group).toBe('codenet protocol')
    expect(classify('encrypt', `${root}node_modules/@chainsafe/libp2p-noise/dist/src/crypto.js`)).toEqual({ location: '@chainsafe/libp2p-noise/dist/src/crypto.js', group: 'libp2p & dependencies' })
    expect(classify('(garbage collector)', '').group).toBe('garbage collector')
    expect(classify('writeBuffer', '').group).toBe('native / V8')
    expect(classify('f', 'wasm://wasm/1234').group).toBe('maths')
    expect(classify('emit', 'node:events').group).toBe('node runtime')
  })

  it('summarises only from the trainer\'s first sample on, each sample in the part of its innermost codenet caller', () => {
    const root = new URL('../../', import.meta.url).href
    const s = summarisePeerProfile({
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 5, 7] },
        { id: 2, callFrame: { functionName: 'compile', url: 'node:internal/modules/esm/utils', lineNumber: 1 } },
        { id: 3, callFrame: { functionName: 'step', url: `${root}training/trainer/index.ts`, lineNumber: 9 }, children: [4] },
        { id: 4, callFrame: { functionName: 'gemm', url: `${root}codes/gemm/index.ts`, lineNumber: 0 } },
        { id: 5, callFrame: { functionName: 'encrypt', url: `${root}node_modules/x/y.js`, lineNumber: 0 } },
        { id: 6, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
        // A helper of both sides (codes/stats.ts) under the collect rule: protocol.
        { id: 7, callFrame: { functionName: 'adaptiveGrace', url: `${root}training/collect.ts`, lineNumber: 0 }, children: [8] },
        { id: 8, callFrame: { functionName: 'median', url: `${root}codes/stats.ts`, lineNumber: 0 } }
      ],
      samples: [2, 2, 4, 5, 6, 4, 8],
      timeDeltas: [0, 1000, 1000, 3000, 1000, 2000, 0, 4000]
    })
    expect(s.startupMs).toBe(2)
    expect(s.totalMs).toBe(10)
    expect(s.idleMs).toBe(2)
    expect(s.groups).toEqual([
      { group: 'codenet protocol', selfMs: 4, selfPercent: 50 }, { group: 'maths', selfMs: 3, selfPercent: 37.5 }, { group: 'libp2p & dependencies', selfMs: 1, selfPercent: 12.5 }
    ])
    expect(s.top[0]).toMatchObject({ function: 'median', location: 'codes/stats.ts:1', group: 'codenet protocol' })
    expect(s.mathsShare).toBe(0.375)
  })
})
