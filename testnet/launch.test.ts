/**
 * Ctrl+C on a foreground `codenet testnet`: every peer stops (no orphan processes) and the
 * checkpoints they wrote still verify.
 */
import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCheckpointStore } from '../node/store.ts'
import type { TestnetState } from './state.ts'

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url))
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

describe('codenet testnet in the foreground', () => {
  it.each([
    [2, 'two of them hosted in one process'],
    [3, 'each in its own process']
  ])('SIGINT stops every peer (--processes %i: %s); checkpoints stay intact', async (processes) => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-launch-'))
    const stateDir = join(dir, 'tn')
    const child = spawn(process.execPath, [BIN, 'testnet', '--peers', '3', '--dataset', 'synthetic', '--model', '8-6-3', '--steps', '5000', '--checkpoint-every', '5', '--processes', String(processes), '--quiet'],
      { cwd: dir, env: { ...process.env, CODENET_TESTNET_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
    const state = (): TestnetState | null => { try { return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) } catch { return null } }
    const pids = new Set<number>()
    try {
      // Wait until training runs and every peer has written a checkpoint.
      const end = Date.now() + 50_000
      for (;;) {
        const s = state()
        for (const p of s?.peers ?? []) if (p.pid !== null) pids.add(p.pid)
        const cks = (s?.peers ?? []).map(p => existsSync(p.dataDir) ? readdirSync(p.dataDir).filter(f => f.endsWith('.ck')).length : 0)
        if (s?.phase === 'training' && cks.length === 3 && cks.every(n => n > 0)) break
        if (Date.now() > end) throw new Error(`testnet did not train within 50 s:\n${out}`)
        await sleep(250)
      }
      expect(pids.size).toBe(processes)
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      expect([...pids].filter(alive)).toEqual([])
      const s = state() as TestnetState
      expect(s.phase).toBe('stopped')
      for (const p of s.peers) {
        const latest = await createCheckpointStore(p.dataDir).loadLatest(() => { throw new Error(`damaged checkpoint in ${p.dataDir}`) })
        expect(latest).not.toBeNull()
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)
})
