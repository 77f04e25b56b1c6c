import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { canonicalJson, createJobSpec, jobHash, jobNames, parseJobSpec, JoinBarrier, assignIndices, JobError } from './job.ts'
import type { Hello } from './gossip.ts'
import { trainingConfigFromFlags } from '../training/config.ts'

const spec = createJobSpec(trainingConfigFromFlags({ peers: '5', dataset: 'synthetic', model: '32-16-4', steps: '50' }))

describe('job spec', () => {
  it('hash ignores key order and whitespace, and changes with any setting', () => {
    const shuffled = JSON.parse(JSON.stringify(spec))
    const reordered = { config: Object.fromEntries(Object.entries(shuffled.config).reverse()), version: 1 }
    expect(jobHash(parseJobSpec(JSON.stringify(reordered, null, 3)))).toBe(jobHash(spec))
    const other = createJobSpec({ ...spec.config, lr: spec.config.lr * 2 })
    expect(jobHash(other)).not.toBe(jobHash(spec))
    const n = jobNames(jobHash(spec))
    expect(n.topics.join).toMatch(/^\/codenet\/job\/[0-9a-f]{16}\/join$/)
    expect(n.protocols.results).toContain(jobHash(spec).slice(0, 16))
    expect(n.jobId.length).toBe(8)
  })

  it('canonical JSON is stable for any key order', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.integer()), (d) => {
      const rev = Object.fromEntries(Object.entries(d).reverse())
      expect(canonicalJson(rev)).toBe(canonicalJson(d))
    }))
  })

  it('refuses bad job files with a clear error', () => {
    expect(() => parseJobSpec('nope')).toThrow(JobError)
    expect(() => parseJobSpec('{"version":2,"config":{}}')).toThrow(/version 2/)
    const noField = JSON.parse(JSON.stringify(spec)); delete noField.config.lr
    expect(() => parseJobSpec(JSON.stringify(noField))).toThrow(/lacks 'lr'/)
    const extra = JSON.parse(JSON.stringify(spec)); extra.config.master = 'me'
    expect(() => parseJobSpec(JSON.stringify(extra))).toThrow(/unknown field 'master'/)
    const bad = JSON.parse(JSON.stringify(spec)); bad.config.model = [784, 10]; bad.config.dataset = 'mnist'; bad.config.model = [10, 10]
    expect(() => parseJobSpec(JSON.stringify(bad))).toThrow(JobError)
    expect(() => parseJobSpec(' '.repeat(70_000))).toThrow(/larger/)
  })
})

describe('join barrier', () => {
  const ids = ['12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC']
  const hello = (peer: string, seen: string[], extra: Partial<Hello> = {}): Hello => ({ type: 'hello', job: 'h', peer, step: 0, attempt: 0, ready: false, done: false, seen, addrs: [], ...extra })

  it('closes only when every member has seen every member, and all derive the same indices', () => {
    const b = new JoinBarrier(ids[1], 3)
    b.observe(hello(ids[0], [ids[0]]))
    b.observe(hello(ids[2], [ids[2], ids[1]]))
    expect(b.members()).toBeNull()
    b.observe(hello(ids[0], [...ids]))
    expect(b.members()).toBeNull()
    b.observe(hello(ids[2], [...ids]))
    expect(b.members()).toEqual([...ids].sort())
    expect(assignIndices([ids[2], ids[0], ids[1]])).toEqual([...ids].sort())
    expect(b.allReady(ids)).toBe(false)
    b.observe(hello(ids[0], [...ids], { ready: true }))
    b.observe(hello(ids[2], [...ids], { ready: true }))
    expect(b.allReady(ids)).toBe(true)
  })
})
