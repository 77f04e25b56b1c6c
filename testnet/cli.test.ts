import { describe, expect, it } from 'vitest'
import { COMMANDS } from './cli.ts'
import { runCli } from './testing.ts'

const run = runCli

describe('codenet CLI', () => {
  it('prints help listing every command', async () => {
    const r = await run(['--help'])
    expect(r.code).toBe(0)
    for (const c of COMMANDS) expect(r.out).toContain(c.name)
  })

  it('has --help for every command', async () => {
    for (const c of COMMANDS) {
      const r = await run([c.name, '--help'])
      expect(r.code).toBe(0)
      expect(r.out).toContain(`codenet ${c.name}`)
    }
  })

  it('rejects an unknown command with a non-zero exit', async () => {
    const r = await run(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.err).toContain("unknown command 'frobnicate'")
  })
})
