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
    const s = io()
    expect(await main(['job', 'init', '--peers', '4', '--dataset', 'synthetic', '--model', '8-4', '--steps', '5'], s)).toBe(0)
    const spec = JSON.parse(s.out)
    expect(spec.version).toBe(1)
    expect(spec.config).toMatchObject({ peers: 4, dataset: 'synthetic', model: [8, 4], steps: 5 })
    expect(s.err).toMatch(/^job [0-9a-f]{16}:/)
  })

  it('bad input is a clear usage error, never a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-cli-'))
    const bad = join(dir, 'bad.json'); writeFileSync(bad, '{"version":1,"config":{"peers":"x"}}')
    const good = join(dir, 'job.json')
    const s0 = io(); await main(['job', 'init', '--dataset', 'synthetic', '--model', '8-4', '--steps', '5'], s0); writeFileSync(good, s0.out)
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
