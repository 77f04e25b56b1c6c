import { describe, it, expect, afterAll } from 'vitest'
import { join } from 'node:path'
import { commandTarget, createControlClient, RestrictedStatusError } from './control-client.ts'
import { generateControlKey, saveControlKey, signControlRequest } from '../node/control-auth.ts'
import { CRASH_EXIT_CODE } from '../node/fault-controller.ts'
import { jobFlags, killAll, startPeer, tempDir, waitFor, writeJob, type PeerProcess } from '../node/testing.ts'
import type { PeerStatus } from '../protocols/status.ts'

const A = `12D3KooW${'A'.repeat(44)}`
const status = (over: Partial<PeerStatus> = {}): PeerStatus => ({
  job: 'a'.repeat(64), peerId: A, controller: { boot: '0'.repeat(32) }, ...over
}) as unknown as PeerStatus

describe('a command target', () => {
  it('is the peer id, job and boot its status answers, when they are what the sender means', () => {
    expect(commandTarget(status())).toEqual({ peer: A, job: 'a'.repeat(64), boot: '0'.repeat(32) })
    expect(commandTarget(status(), { peer: A, job: 'a'.repeat(64) })).toEqual({ peer: A, job: 'a'.repeat(64), boot: '0'.repeat(32) })
    expect(commandTarget(status(), { peer: null })).toMatchObject({ peer: A })
    expect(() => commandTarget(status(), { peer: `12D3KooW${'B'.repeat(44)}` })).toThrow(/the peer at this address is 12D3KooWAAAA…, not 12D3KooWBBBB…/)
    expect(() => commandTarget(status(), { job: 'b'.repeat(64) })).toThrow(/runs job aaaaaaaaaaaa…, not bbbbbbbbbbbb…/)
    expect(() => commandTarget(status({ controller: undefined }))).toThrow(/publishes no boot nonce/)
  })
})

describe('commands to real peers', () => {
  const running: PeerProcess[] = []
  afterAll(() => { killAll(running) })
  const addrOf = async (p: PeerProcess): Promise<string> => (await waitFor(p, /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/))[1]

  it('a command signed for one peer is refused by another, and a captured crash by the restarted peer', async () => {
    const dir = tempDir('codenet-bound-')
    const job = writeJob(dir, jobFlags(20))
    const key = generateControlKey()
    saveControlKey(key, join(dir, 'control.key.pem'), join(dir, 'control.pub.pem'))
    const flags = ['--control-key', join(dir, 'control.pub.pem')]
    // Two peers of a 5-peer job: they wait at the barrier, answering the control protocol.
    const a = await startPeer('a', dir, job, flags)
    const b = await startPeer('b', dir, job, flags)
    running.push(a, b)
    const [addrA, addrB] = await Promise.all([addrOf(a), addrOf(b)])
    const client = await createControlClient({ key: key.privateKey })
    const stranger = await createControlClient()
    try {
      // A stranger (not a member, not the controller) learns the phase and step only: not the
      // job hash, the members, their addresses or the fault history it could use to join or attack.
      await expect(stranger.status(addrA)).rejects.toThrow(RestrictedStatusError)
      await expect(stranger.status(addrA)).rejects.toThrow(/only its phase \(joining\) and step \(0\)/)
      const before = await client.status(addrA)
      expect(before.controller?.boot).toMatch(/^[0-9a-f]{32}$/)
      expect(await client.command(addrA, key.privateKey, 'fault', { kind: 'pause', seed: 1 }, { peer: before.peerId, job: before.job })).toMatchObject({ applied: 'pause' })
      // Captured: a crash signed for peer a, this boot.
      const crash = signControlRequest(key.privateKey, 'fault', { kind: 'crash', seed: 1 }, commandTarget(before))
      await expect(client.send(addrB, crash)).rejects.toThrow(/peer refused 'fault': command is for peer .*, not this peer/)
      expect((await client.status(addrB)).controller?.refused).toEqual({ 'wrong-peer': 1 })
      expect(await client.send(addrA, crash)).toMatchObject({ applied: 'crash' })
      expect(await a.exit).toBe(CRASH_EXIT_CODE)
      // Restarted with the same data dir: the same peer id, a new boot.
      const again = await startPeer('a', dir, job, flags)
      running.push(again)
      const addrA2 = await addrOf(again)
      const after = await client.status(addrA2)
      expect(after.peerId).toBe(before.peerId)
      expect(after.controller?.boot).not.toBe(before.controller?.boot)
      await expect(client.send(addrA2, crash)).rejects.toThrow(/another boot of this peer/)
      expect((await client.status(addrA2)).controller?.refused).toEqual({ 'stale-boot': 1 })
      expect(again.child.exitCode).toBe(null)
      expect(again.stderr).toMatch(/refused control command 'fault': command is for another boot/)
    } finally {
      await client.stop()
      await stranger.stop()
    }
  })
})
