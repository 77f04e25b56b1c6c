import { describe, it, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { BIN } from '../launch.ts'
import { EXIT_MARK, parseHostStart } from './host.ts'
import { runCli } from '../testing.ts'

describe('codenet host', () => {
  it('parses start lines and refuses anything else', () => {
    expect(parseHostStart('{"slot":2,"argv":["--job","j.json"]}')).toEqual({ slot: 2, argv: ['--job', 'j.json'] })
    for (const bad of ['', 'x', 'null', '[]', '{"slot":-1,"argv":[]}', '{"slot":1.5,"argv":[]}', '{"slot":"1","argv":[]}', '{"slot":1,"argv":[1]}', '{"slot":1}', '{"argv":[]}']) {
      expect(parseHostStart(bad), bad).toBeNull()
    }
  })

  it('codenet testnet --processes takes 1 to P', async () => {
    for (const bad of ['0', '7', '1.5', 'two', '']) {
      const r = await runCli(['testnet', '--peers', '6', '--dataset', 'synthetic', '--model', '8-4', '--steps', '2', '--processes', bad])
      expect(r.code, bad).toBe(2)
      expect(r.err).toContain(`--processes must be a whole number from 1 to the peers (6), got '${bad}'`)
    }
  })

  it('takes no arguments', async () => {
    const r = await runCli(['host', 'extra'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/codenet host: takes no arguments/)
  })

  it('runs peers as slots: their lines prefixed, their ends reported; a bad line is ignored; ends with its input', async () => {
    const child = spawn(process.execPath, [BIN, 'host'], { stdio: ['pipe', 'pipe', 'pipe'] })
    const lines: string[] = []
    let err = ''
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    const ends = new Map<number, number>()
    let resolveEnds: () => void = () => {}
    const bothEnded = new Promise<void>(resolve => { resolveEnds = resolve })
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l)
      const m = /^@(\d+) (.*)$/.exec(l)
      if (m !== null && m[2].startsWith(EXIT_MARK)) ends.set(Number(m[1]), Number(m[2].slice(EXIT_MARK.length)))
      if (ends.size === 2) resolveEnds()
    })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
    child.stdin.write('not json\n')
    child.stdin.write(`${JSON.stringify({ slot: 4, argv: ['--job', '/nonexistent/job.json'] })}\n`)
    child.stdin.write(`${JSON.stringify({ slot: 7, argv: ['--no-such-flag'] })}\n`)
    await bothEnded
    child.stdin.end()
    expect(await exited).toBe(0)
    // Each peer's failure is its own one line, under its slot, and its exit code.
    expect(lines).toContain('@4 codenet peer: cannot read job file /nonexistent/job.json: ENOENT: no such file or directory, open \'/nonexistent/job.json\'')
    expect(lines.some(l => l.startsWith('@7 codenet peer: ') && l.includes('--no-such-flag'))).toBe(true)
    expect(ends.get(4)).toBe(2)
    expect(ends.get(7)).toBe(2)
    expect(err).toMatch(/codenet host: ignored a line that is not/)
  }, 60_000)
})
