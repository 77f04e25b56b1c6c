import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main, DEFAULT_SOFT_ERROR_RATE } from '../cli.ts'
import { startFaults } from './testnet.ts'
import { trainingConfigFromFlags } from '../../training/config.ts'
import { commandOf } from '../fault-history.ts'

const config = trainingConfigFromFlags({ dataset: 'synthetic', model: '16-12-8-4', steps: '20', seed: '3' })

describe('codenet testnet fault flags', () => {
  it('become fault commands sent when training starts, after the default soft errors', () => {
    const s = startFaults({ straggler: ['2:500'], partition: ['0,1,2|3,4,5'], 'byzantine-peers': '1,', 'lying-voters': '4,' }, config, false)
    expect(s.given).toBe(true)
    expect(s.config).toEqual(config)
    expect(s.entries.map(e => [e.kind, e.target, e.step, e.params])).toEqual([
      ['soft-error', 'all', 0, { rate: DEFAULT_SOFT_ERROR_RATE, errorKind: 'gaussian', magnitude: 1, site: 'matmul' }],
      ['straggler', 2, 0, { delayMs: 500 }],
      ['partition', 'all', 0, {}],
      ['byzantine', 1, 0, { magnitude: 1 }],
      ['soft-error', 4, 0, { rate: 1, errorKind: 'gaussian', magnitude: 1, site: 'verdict' }]
    ])
    // Every entry is a command the peers accept (the wire schema).
    for (const e of s.entries) expect(commandOf(e)?.kind).toBe(e.kind)
    // No flags: only the default soft errors; --error-rate: none.
    expect(startFaults({}, config, false)).toMatchObject({ given: false, entries: [{ kind: 'soft-error', target: 'all' }] })
    expect(startFaults({}, config, true).entries).toEqual([])
  })

  it('draws K byzantine peers from the seed as simulate does; --fault-site moves the soft errors', () => {
    const s = startFaults({ 'byzantine-peers': '2' }, config, true)
    expect(s.entries.map(e => e.target)).toHaveLength(2)
    expect(startFaults({ 'byzantine-peers': '2' }, config, true)).toEqual(s)
    expect(startFaults({ 'fault-site': ['update'] }, config, false).entries[0].params.site).toBe('update')
    const withRate = trainingConfigFromFlags({ dataset: 'synthetic', model: '16-12-8-4', steps: '20', 'error-rate': '0.01', 'error-kind': 'bitflip' })
    const moved = startFaults({ 'fault-site': ['hadamard'] }, withRate, true)
    expect(moved.config.errorRate).toBe(0)
    expect(moved.entries).toMatchObject([{ kind: 'soft-error', target: 'all', params: { rate: 0.01, errorKind: 'bitflip', site: 'hadamard' } }])
  })

  it('refuses what real TCP peers cannot do, with one line, exit 2, before starting anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-tn-'))
    process.env.CODENET_TESTNET_DIR = dir
    try {
      const cases: Array<[string[], RegExp]> = [
        [['--drop-rate', '0.1'], /^codenet testnet: --drop-rate is not available on codenet testnet: .*TCP/],
        [['--datagrams'], /--datagrams is not available on codenet testnet/],
        [['--delay-ms', '5'], /--delay-ms is not available on codenet testnet/],
        [['--duplicate-rate', '0.1'], /--duplicate-rate is not available on codenet testnet/],
        [['--reorder-rate', '0.1'], /--reorder-rate is not available on codenet testnet/],
        [['--corrupt-rate', '0.1'], /--corrupt-rate is not available on codenet testnet/],
        [['--crash', '1@2+3'], /--crash is not available on codenet testnet: .*codenet fault crash/],
        [['--partition', '5-10:0,1,2|3,4,5'], /--partition: real peers cannot follow a step schedule/],
        [['--partition', '0|1,2,3,4,5'], /--partition: real peers split only into halves on codenet testnet \(0,1,2\|3,4,5\)/],
        [['--fault-site', 'matmul', '--fault-site', 'update'], /one --fault-site on codenet testnet/],
        [['--byzantine-peers', '6'], /--byzantine-peers must be at most 5/],
        [['--straggler', '1:-'], /--straggler must be a number of milliseconds/],
        [['--replay', join(dir, 'h.jsonl'), '--byzantine-peers', '1'], /give --replay or fault flags, not both/]
      ]
      for (const [flags, re] of cases) {
        const stdout = new PassThrough(); const stderr = new PassThrough()
        let err = ''
        stderr.on('data', (d: Buffer) => { err += d.toString() })
        const code = await main(['testnet', '--dataset', 'synthetic', '--model', '16-12-8-4', '--steps', '20', ...flags], { stdout, stderr })
        expect(code, flags.join(' ')).toBe(2)
        expect(err.trim().split('\n')[0]).toMatch(re)
        expect(err.trim().split('\n')).toHaveLength(2)
      }
    } finally {
      delete process.env.CODENET_TESTNET_DIR
    }
  })
})
