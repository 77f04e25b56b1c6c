import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { main } from '../cli.ts'
import { createHost, type CodenetHost } from '../../node/peer.ts'
import { CONTROL_PROTOCOL, controlStreamHandler } from '../../protocols/control.ts'
import { peerStatusFixture, peerHealthFixture, controllerStatusFixture } from '../../protocols/testing.ts'
import { writeState, testnetPaths, STATE_VERSION, type TestnetState } from '../state.ts'

function io () {
  let out = ''; let err = ''
  return {
    stdout: new Writable({ write (c, _e, cb) { out += String(c); cb() } }),
    stderr: new Writable({ write (c, _e, cb) { err += String(c); cb() } }),
    get out () { return out },
    get err () { return err }
  }
}

describe('codenet status', () => {
  const hosts: CodenetHost[] = []
  const dir = mkdtempSync(join(tmpdir(), 'codenet-status-'))
  const saved = process.env.CODENET_TESTNET_DIR

  beforeAll(async () => {
    const good = peerStatusFixture(0, { peers: [peerHealthFixture(0, { state: 'self' }), peerHealthFixture(1)], controller: controllerStatusFixture({ active: [] }) })
    const answers = [good, { ...good, index: 1, step: 'three', peers: 'all fine' }]
    for (const a of answers) {
      const h = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
      await h.handle(CONTROL_PROTOCOL, controlStreamHandler({ status: () => a }))
      hosts.push(h)
    }
    const paths = testnetPaths(dir)
    const state: TestnetState = {
      version: STATE_VERSION, pid: process.pid, startedAt: Date.now() - 1000, phase: 'training', keep: true,
      peers: hosts.map((h, k) => ({
        slot: k, pid: null, port: null, peerId: h.peerId.toString(), index: k, addresses: [h.getMultiaddrs()[0].toString()],
        dataDir: paths.slotDir(k), log: paths.slotLog(k), summaryFile: paths.slotSummary(k), restarts: 0, process: 'running', exitCode: null
      })),
      dashboardUrl: null, jobFile: paths.job, job: 'ab'.repeat(32), totalSteps: 100, monitor: null, rows: [], error: null
    }
    writeState(paths, state)
    process.env.CODENET_TESTNET_DIR = dir
  })
  afterAll(async () => {
    if (saved === undefined) delete process.env.CODENET_TESTNET_DIR
    else process.env.CODENET_TESTNET_DIR = saved
    await Promise.all(hosts.map(async h => { await h.stop() }))
  })

  it('shows a peer with a malformed status offline, with one clear line', async () => {
    const s = io()
    expect(await main(['status', '--json'], s)).toBe(0)
    const r = JSON.parse(s.out)
    expect(r.peers.map((p: { state: string }) => p.state)).toEqual(['online', 'offline'])
    expect(r.peers[0]).toMatchObject({ index: 0, step: 3, loss: 0.5 })
    const lines = s.err.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^codenet status: peer slot 1 \(index 1\) answered a malformed status: step: .*peers: /)
  })
})
