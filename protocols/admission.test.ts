import { describe, it, expect } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { Admission, AdmissionError, generateJobKey, parseTicketFile, publicKeyText, signTicket } from './admission.ts'
import { createJobSpec, jobHash, parseJobSpec, JoinBarrier, BARRIER_AGE_MS, JobError } from './job.ts'
import { DEFAULT_CONFIG } from '../training/config.ts'
import type { Hello } from './gossip.ts'

const ids = ['12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC']
/** Sorts before every honest id: a key ground to a small id would win the "P smallest" rule of an open job. */
const SMALL = '12D3KooW111111111111111111111111111111111111111111'
const hello = (peer: string, seen: string[], extra: Partial<Hello> = {}): Hello => ({ type: 'hello', job: 'h', peer, step: 0, attempt: 0, ready: false, done: false, seen, addrs: [], ...extra })
const config = { ...DEFAULT_CONFIG, peers: 3, dataset: 'synthetic' as const, model: [8, 4], steps: 5, epochs: null }

describe('admission by ticket', () => {
  const key = generateJobKey()
  const spec = createJobSpec(config, { key: publicKeyText(key) })
  const job = jobHash(spec)

  it('admits a peer with the job key\'s ticket, and no one else', () => {
    const a = new Admission(job, spec.admission)
    const t = signTicket(key, job, ids[0])
    expect(a.admits(ids[0], t.ticket)).toBe(true)
    expect(a.known(ids[0])).toBe(true)
    expect(a.admits(ids[1])).toBe(false)
    // Another peer's ticket, a ticket for another job, a ticket of another key: refused.
    expect(a.admits(ids[1], t.ticket)).toBe(false)
    expect(a.admits(ids[0], signTicket(key, 'f'.repeat(64), ids[0]).ticket)).toBe(false)
    expect(a.admits(ids[2], signTicket(generateJobKey(), job, ids[2]).ticket)).toBe(false)
    expect(a.known(ids[1])).toBe(false)
  })

  it('the admission is covered by the job hash', () => {
    const other = createJobSpec(config, { key: publicKeyText(generateJobKey()) })
    expect(jobHash(other)).not.toBe(job)
    expect(jobHash(createJobSpec(config, { members: [ids[0], ids[1], ids[2]] }))).not.toBe(jobHash(createJobSpec(config)))
    expect(jobHash(parseJobSpec(JSON.stringify(spec)))).toBe(job)
  })

  it('refuses malformed admission sections and tickets with one clear message', () => {
    const bad = (admission: unknown): void => { expect(() => parseJobSpec(JSON.stringify({ ...spec, admission }))).toThrow(JobError) }
    bad({})
    bad({ members: [] })
    bad({ members: ['not an id'] })
    bad({ key: 'not base64!' })
    bad({ key: publicKeyText(key), extra: 1 })
    expect(() => new Admission(job, { key: Buffer.from('x').toString('base64') })).toThrow(AdmissionError)
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64')
    expect(() => new Admission(job, { key: rsa })).toThrow(/not Ed25519/)
    expect(() => parseTicketFile('{"type":"codenet-ticket"}', 't.json')).toThrow(/t.json is not a ticket/)
    expect(() => parseTicketFile('nope', 't.json')).toThrow(/not JSON/)
    expect(parseTicketFile(JSON.stringify(signTicket(key, job, ids[0])), 't.json').peer).toBe(ids[0])
  })
})

describe('a join barrier behind admission', () => {
  it('an outsider cannot take a seat, even with an id smaller than every member', () => {
    const listed = new Admission('h', { members: ids })
    const b = new JoinBarrier(ids[1], 3, p => listed.known(p))
    // The outsider says hello first, claims to have seen everyone, and sorts first.
    b.observe(hello(SMALL, [SMALL, ...ids]))
    b.observe(hello(ids[0], [SMALL, ...ids]))
    b.observe(hello(ids[2], [SMALL, ...ids]))
    expect(b.seen()).toEqual([...ids].sort())
    expect(b.members()).toEqual([...ids].sort())
  })

  it('an open job (no admission) still seats the P smallest ids: what the admission prevents', () => {
    const open = new Admission('h', undefined)
    const b = new JoinBarrier(ids[1], 3, p => open.known(p))
    b.observe(hello(SMALL, [SMALL, ...ids]))
    b.observe(hello(ids[0], [SMALL, ...ids]))
    expect(b.members()).toEqual([SMALL, ids[0], ids[1]])
  })

  it('keeps at most 2·P admitted ids of a long seen list, and ages out silent joiners', () => {
    let t = 0
    const b = new JoinBarrier(ids[1], 3, () => true, () => t)
    const many = Array.from({ length: 200 }, (_, i) => `12D3KooW${String(i).padStart(44, 'X')}`)
    b.observe(hello(ids[0], [ids[0], ...many]))
    for (const id of many.slice(0, 50)) b.observe(hello(id, [id]))
    expect(b.seen().length).toBe(52)
    t = BARRIER_AGE_MS / 2
    b.observe(hello(ids[0], [ids[0]]))
    t = BARRIER_AGE_MS + 1
    b.age()
    // Only the peer heard within the age remains (and this peer itself).
    expect(b.seen()).toEqual([ids[0], ids[1]].sort())
  })
})
