import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../testing.ts'

const run = runCli

const small = ['--dataset', 'synthetic', '--model', '20-16-8-4', '--batch', '8', '--steps', '40', '--checkpoint-every', '10']

describe('codenet simulate', () => {
  it('writes the summary JSON and weights that evaluate to the same accuracy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-sim-'))
    const json = join(dir, 'summary.json'); const weights = join(dir, 'weights.json')
    const r = await run(['simulate', ...small, '--json', json, '--export-weights', weights])
    expect(r.code).toBe(0)
    expect(r.out).toContain('test accuracy')
    expect(r.err).toContain('step 40/40')
    const s = JSON.parse(readFileSync(json, 'utf8'))
    for (const k of ['strategy', 'peers', 'code', 'steps', 'epochs', 'wallSeconds', 'testAccuracy', 'trainLoss', 'faults', 'rollbacks', 'repairs', 'timing', 'bytesSent']) expect(s).toHaveProperty(k)
    expect(s.code).toMatchObject({ scheme: 'polydot', m: 2, n: 1, recoveryThreshold: { forward: 2, backward: 3 } })
    expect(Object.keys(s.faults).sort()).toEqual(['corrected', 'detected', 'injected', 'silent', 'uncorrectable'])
    expect(Object.keys(s.timing).sort()).toEqual(['computeS', 'decodeS', 'encodeS', 'stepMs', 'waitS'])
    const w = JSON.parse(readFileSync(weights, 'utf8'))
    expect(w.activation).toBe('relu')
    expect(w.layers.map((l: { rows: number, cols: number }) => [l.rows, l.cols])).toEqual([[16, 20], [8, 16], [4, 8]])
    expect(w.layers[0].weights).toHaveLength(16 * 20)
    expect(w.layers[0].bias).toHaveLength(16)
    const e = await run(['simulate', '--evaluate-weights', weights, '--dataset', 'synthetic', '--model', '20-16-8-4'])
    expect(e.code).toBe(0)
    expect(JSON.parse(e.out).testAccuracy).toBe(s.testAccuracy)
  })

  it('rejects bad flags and bad weight files with a clear message', async () => {
    const r = await run(['simulate', '--peers', 'many'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/--peers must be a whole number/)
    const u = await run(['simulate', '--frobnicate'])
    expect(u.code).toBe(2)
    const dir = mkdtempSync(join(tmpdir(), 'codenet-sim-'))
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ activation: 'relu', layers: [{ rows: 2, cols: 3, weights: [1], bias: [0, 0] }] }))
    const e = await run(['simulate', '--evaluate-weights', bad, '--dataset', 'synthetic', '--model', '3-2'])
    expect(e.code).toBe(1)
    expect(e.err).toMatch(/weights must have rows·cols = 6 numbers/)
    const missing = await run(['simulate', '--evaluate-weights', join(dir, 'nope.json')])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/cannot read weights file/)
  })

  it('takes the network and adversary faults as flags, and lists them in --help', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-sim-'))
    const json = join(dir, 'summary.json')
    const r = await run(['simulate', ...small, '--quiet', '--drop-rate', '0.3', '--straggler', '1:20', '--crash', '2@5+3', '--byzantine-peers', '4,', '--json', json])
    expect(r.code).toBe(0)
    expect(r.out).toContain('network and adversaries: drop 0.3 straggler 1:20ms crash 2@5+3 byzantine [4]')
    const s = JSON.parse(readFileSync(json, 'utf8'))
    expect(s.completedSteps).toBe(40)
    expect(s.stalled).toBeNull()
    // The faults reached the run (silent errors are the soak slice's business: soak.test.ts).
    expect(s.network.dropped).toBeGreaterThan(0)
    expect(s.resyncs).toBeGreaterThan(0)
    const h = await run(['simulate', '--help'])
    for (const f of ['--drop-rate', '--datagrams', '--delay-ms', '--delay-rate', '--jitter-ms', '--duplicate-rate', '--reorder-rate', '--corrupt-rate', '--straggler', '--partition', '--crash', '--lying-voters', '--byzantine-peers', '--fault-site']) expect(h.out).toContain(f)
  })

  it('refuses bad fault flags with one line naming the flag, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--drop-rate', '2'], /--drop-rate must be a probability between 0 and 1, got 2/],
      [['--straggler', '9:10'], /--straggler 9:10: the peer must be between 0 and 5/],
      [['--partition', '30-20:0|1'], /--partition '30-20:0\|1': TO must be after FROM/],
      [['--crash', '1@39+2'], /--crash '1@39\+2': the peer would come back at step 41/],
      [['--lying-voters', '6'], /--lying-voters must be at most 5/],
      [['--fault-site', 'update'], /--fault-site .*needs --error-rate/],
      [['--datagrams=yes'], /datagrams/]
    ]
    for (const [flags, re] of cases) {
      const r = await run(['simulate', ...small, ...flags])
      expect(r.code, flags.join(' ')).toBe(2)
      const lines = r.err.trim().split('\n')
      expect(lines[0]).toMatch(re)
      expect(lines[0]).toMatch(/^codenet simulate: /)
      expect(lines.slice(1)).toEqual(["Run 'codenet simulate --help' for usage."])
    }
  })
})
