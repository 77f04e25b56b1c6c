import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { type CpuProfile, type ExchangeBenchResult, formatExchangeTable, runExchangeBench, summariseCpuProfile } from './exchange.ts'
import { runCli } from '../testing.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-bench-exchange-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('codenet bench exchange --quick', () => {
  it('runs libp2p (TCP and QUIC) and raw rounds among 3 processes, delivers every message, and writes the table as JSON', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const file = join(dir, 'exchange.json')
    const result = await runExchangeBench({ out, json: file, quick: true, peers: 3, sizes: [1024, 4096], repeats: 1, transports: ['tcp', 'quic'], cpuProfDir: join(dir, 'prof') })
    const json = JSON.parse(readFileSync(file, 'utf8')) as ExchangeBenchResult
    expect(json).toEqual(JSON.parse(JSON.stringify(result)))

    expect(json.benchmark).toBe('exchange')
    expect(json.peers).toBe(3)
    expect(json.transports).toEqual(['tcp', 'quic'])
    expect(json.rows.map(r => [r.bytes, r.label, r.shape])).toEqual([[1024, '1 KiB', '8x16 f64'], [4096, '4 KiB', '32x16 f64']])
    expect(json.delivered.libp2p).toEqual(json.deliveredBy.tcp)
    expect(json.delivered.raw).toEqual(json.deliveredBy.raw)
    for (const t of ['tcp', 'quic', 'raw'] as const) {
      const d = json.deliveredBy[t]
      expect(d).toBeDefined()
      // Warm-up (3 rounds) and timed batches (6 rounds at these sizes), 2 sizes, 3·2 messages a round.
      expect(d?.expected).toBe(2 * (3 + 6) * 3 * 2)
      expect(d?.received).toBe(d?.expected)
      expect(d?.verified).toBe(d?.expected)
    }
    for (const row of json.rows) {
      expect(row.byTransport.map(b => b.transport)).toEqual(['tcp', 'quic'])
      // The row's own figures are the first transport's.
      expect([row.libp2p, row.ratio, row.pass]).toEqual([row.byTransport[0].libp2p, row.byTransport[0].ratio, row.byTransport[0].pass])
      for (const side of [...row.byTransport.map(b => b.libp2p), row.raw]) {
        expect(side?.roundsTimed).toBe(5)
        expect(side?.medianMs).toBeGreaterThan(0)
        expect(side?.p10Ms).toBeLessThanOrEqual(side?.p90Ms as number)
      }
      expect(row.target).toBe(3)
      for (const b of row.byTransport) {
        expect(b.ratio).toBeCloseTo((b.libp2p?.medianMs as number) / (row.raw?.medianMs as number), 10)
        expect(b.pass).toBe((b.ratio as number) <= 3)
      }
    }
    expect(json.pass).toBe(json.rows.every(r => r.pass === true))
    expect(json.profile?.top.length).toBeGreaterThan(0)
    expect(existsSync(json.profile?.file as string)).toBe(true)
    expect(text).toContain(formatExchangeTable(json))
    expect(text).toMatch(/libp2p tcp: 108\/108 messages delivered, 108 verified/)
    expect(text).toMatch(/libp2p quic: 108\/108 messages delivered, 108 verified/)
    expect(text).toMatch(/^message +tcp ms +quic ms +raw ms +tcp\/raw +quic\/raw/m)
  })

  it('refuses bad options with a usage error', async () => {
    for (const argv of [['exchange', '--peers', '1'], ['exchange', '--peers', 'x'], ['exchange', '--only', 'udp'], ['gemm', '--peers', '3'],
      ['exchange', '--transport', 'udp'], ['exchange', '--transport', 'tcp,tcp'], ['gemm', '--transport', 'quic']]) {
      const r = await runCli(['bench', ...argv])
      expect(r.code).toBe(2)
      expect(r.err).toMatch(/--peers|--only|--transport/)
    }
    await expect(runExchangeBench({ out: new PassThrough(), sizes: [1000 + 1] })).rejects.toThrow(RangeError)
    await expect(runExchangeBench({ out: new PassThrough(), transports: [] })).rejects.toThrow(RangeError)
  })
})

describe('summariseCpuProfile', () => {
  it('adds self time per function and package, without idle time', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
        { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
        { id: 3, callFrame: { functionName: 'encrypt', url: 'file:///x/node_modules/@chainsafe/libp2p-noise/dist/src/crypto.js', lineNumber: 9 } },
        { id: 4, callFrame: { functionName: 'writeBuffer', url: '', lineNumber: -1 } }
      ],
      samples: [3, 3, 2, 4, 3],
      timeDeltas: [0, 1000, 2000, 5000, 2000]
    }
    const s = summariseCpuProfile(profile)
    expect(s.totalMs).toBe(10)
    expect(s.idleMs).toBe(5)
    expect(s.top).toEqual([
      { function: 'encrypt', location: '@chainsafe/libp2p-noise/dist/src/crypto.js:10', selfMs: 3, selfPercent: 60 },
      { function: 'writeBuffer', location: '(native)', selfMs: 2, selfPercent: 40 }
    ])
    expect(s.byPackage[0]).toEqual({ package: '@chainsafe/libp2p-noise', selfMs: 3, selfPercent: 60 })
  })
})
