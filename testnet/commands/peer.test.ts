import { describe, it, expect } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { main } from '../cli.ts'

function io () {
  let out = ''; let err = ''
  return {
    stdout: new Writable({ write (c, _e, cb) { out += String(c); cb() } }),
    stderr: new Writable({ write (c, _e, cb) { err += String(c); cb() } }),
    get out () { return out },
    get err () { return err }
  }
}

describe('codenet job / codenet peer arguments', () => {
  it('job init writes a spec the peer command accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-job-'))
    const key = join(dir, 'job.key')
    const s = io()
    expect(await main(['job', 'init', '--job-key', key, '--peers', '4', '--dataset', 'synthetic', '--model', '8-4', '--steps', '5'], s)).toBe(0)
    const spec = JSON.parse(s.out)
    expect(spec.version).toBe(1)
    expect(spec.config).toMatchObject({ peers: 4, dataset: 'synthetic', model: [8, 4], steps: 5 })
    expect(typeof spec.admission.key).toBe('string')
    expect(s.err).toMatch(/job key written to .*job\.key/)
    expect(s.err).toMatch(/^job [0-9a-f]{16}:.*admits peers with a ticket/m)
    // The key is reused, not replaced, by the next job.
    const again = io()
    expect(await main(['job', 'init', '--job-key', key, '--peers', '4', '--dataset', 'synthetic', '--model', '8-4', '--steps', '6'], again)).toBe(0)
    expect(JSON.parse(again.out).admission.key).toBe(spec.admission.key)
    expect(again.err).not.toMatch(/job key written/)
  })

  it('job admit signs a ticket for a peer id, which the peer accepts; other jobs and keys are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-admit-'))
    const key = join(dir, 'job.key')
    const job = join(dir, 'job.json')
    const s0 = io(); expect(await main(['job', 'init', '--job-key', key, '--peers', '4', '--dataset', 'synthetic', '--model', '8-4', '--steps', '5'], s0)).toBe(0)
    writeFileSync(job, s0.out)
    const idOut = io(); expect(await main(['peer', '--print-id', '--data-dir', join(dir, 'p0')], idOut)).toBe(0)
    const id = idOut.out.trim()
    expect(id).toMatch(/^12D3KooW/)
    const again = io(); await main(['peer', '--print-id', '--data-dir', join(dir, 'p0')], again)
    expect(again.out.trim()).toBe(id)
    const t = io(); expect(await main(['job', 'admit', '--job', job, '--job-key', key, id], t)).toBe(0)
    const ticket = JSON.parse(t.out)
    expect(ticket).toMatchObject({ type: 'codenet-ticket', peer: id })
    const other = join(dir, 'other.key')
    const o = io(); await main(['job', 'init', '--job-key', other, '--steps', '5', '--dataset', 'synthetic', '--model', '8-4'], o)
    const cases: Array<[string[], RegExp]> = [
      [['job', 'admit', '--job', job, '--job-key', other, id], /is not the key of/],
      [['job', 'admit', '--job', job, '--job-key', key, 'nope'], /'nope' is not a peer id/],
      [['job', 'admit', '--job', job, '--job-key', join(dir, 'missing.key'), id], /cannot read the job key/],
      [['job', 'init', '--open', '--members', id], /--open admits anyone/],
      [['job', 'init', '--peers', '4', '--members', id], /--members lists 1 peers but the job needs 4/],
      [['peer', '--print-id'], /--print-id needs --data-dir/]
    ]
    for (const [argv, re] of cases) {
      const s = io()
      expect(await main(argv, s)).toBe(2)
      expect(s.err).toMatch(re)
    }
    // A ticket for another job is refused by the peer command before it starts.
    const otherJob = join(dir, 'other.json'); writeFileSync(otherJob, o.out)
    const tf = join(dir, 'p0.ticket'); writeFileSync(tf, t.out)
    const wrong = io()
    expect(await main(['peer', '--job', otherJob, '--ticket', tf, '--data-dir', join(dir, 'p0')], wrong)).toBe(2)
    expect(wrong.err).toMatch(/is a ticket for job [0-9a-f]{16}, not for/)
    const open = io(); expect(await main(['job', 'init', '--open', '--steps', '5', '--dataset', 'synthetic', '--model', '8-4'], open)).toBe(0)
    expect(JSON.parse(open.out).admission).toBeUndefined()
    expect(open.err).toMatch(/OPEN/)
  })

  it('bad input is a clear usage error, never a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-cli-'))
    const bad = join(dir, 'bad.json'); writeFileSync(bad, '{"version":1,"config":{"peers":"x"}}')
    const good = join(dir, 'job.json')
    const s0 = io(); await main(['job', 'init', '--job-key', join(dir, 'job.key'), '--dataset', 'synthetic', '--model', '8-4', '--steps', '5'], s0); writeFileSync(good, s0.out)
    const cases: Array<[string[], RegExp]> = [
      [['job'], /missing subcommand/],
      [['job', 'init', '--peers', 'many'], /--peers must be a whole number/],
      [['peer'], /--job FILE is required/],
      [['peer', '--job', join(dir, 'missing.json')], /cannot read job file/],
      [['peer', '--job', bad], /lacks|wrong type/],
      [['peer', '--job', good, '--bootstrap', 'not-an-addr'], /--bootstrap 'not-an-addr' is not a multiaddr/],
      [['peer', '--job', good, '--fault-rate', '2'], /--fault-rate must be a number between 0 and 1/],
      [['peer', '--job', good, '--swarm-key', bad], /not a swarm key/]
    ]
    for (const [argv, re] of cases) {
      const s = io()
      expect(await main(argv, s)).toBe(2)
      expect(s.err).toMatch(re)
    }
  })
})
