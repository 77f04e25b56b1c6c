import { describe, it, expect } from 'vitest'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReplayMemory, MAX_REMEMBERED, REPLAY_MEMORY_FILE } from './replay-memory.ts'

const dir = (): string => mkdtempSync(join(tmpdir(), 'codenet-replay-'))

describe('the replay memory', () => {
  it('takes an id once, until it expires', () => {
    const m = new ReplayMemory(null)
    expect(m.claim('a', 2000, 1000)).toBe('ok')
    expect(m.claim('a', 2000, 1500)).toBe('seen')
    // Past its expiry the id is forgotten (the verifier refuses such envelopes as expired anyway).
    expect(m.claim('b', 5000, 2001)).toBe('ok')
    expect(m.has('a')).toBe(false)
  })

  it('is bounded: when every slot holds a valid id, new ones are refused, not the old forgotten', () => {
    const m = new ReplayMemory(null)
    for (let i = 0; i < MAX_REMEMBERED; i++) expect(m.claim(`id${i}`, 10_000, 0)).toBe('ok')
    expect(m.claim('one more', 10_000, 0)).toBe('full')
    expect(m.claim('id0', 10_000, 0)).toBe('seen')
    expect(m.claim('one more', 20_000, 10_001)).toBe('ok')
    expect(m.size).toBe(1)
  })

  it('survives a restart through its file, written atomically, without the expired ids', async () => {
    const d = dir()
    const m = await ReplayMemory.load(d, 0)
    m.claim('old', 100, 0)
    m.claim('new', 10_000, 0)
    await m.persist(0)
    expect(readdirSync(d)).toEqual([REPLAY_MEMORY_FILE])
    expect(JSON.parse(readFileSync(join(d, REPLAY_MEMORY_FILE), 'utf8'))).toEqual({ version: 1, ids: [['old', 100], ['new', 10_000]] })
    const again = await ReplayMemory.load(d, 500)
    expect([again.has('old'), again.has('new')]).toEqual([false, true])
    expect(again.claim('new', 10_000, 500)).toBe('seen')
  })

  it('a damaged file is reported and read as empty; a missing one is empty', async () => {
    const d = dir()
    const reports: string[] = []
    expect((await ReplayMemory.load(d, 0, r => { reports.push(r) })).size).toBe(0)
    expect(reports).toEqual([])
    writeFileSync(join(d, REPLAY_MEMORY_FILE), '{"version":1,"ids":[["a","soon"]]}')
    expect((await ReplayMemory.load(d, 0, r => { reports.push(r) })).size).toBe(0)
    expect(reports).toEqual([expect.stringMatching(/is not a replay memory file/)])
  })
})
