import { describe, it, expect } from 'vitest'
import { checkPeerIndices, faultFromFlags, faultUsage, FAULT_FLAG_OPTIONS, FAULT_KINDS_AND_CLEAR, FAULT_PARAMS, parseTarget, type FaultParam } from './fault-params.ts'
import { FaultCommandError, parseFaultCommand } from '../protocols/fault-command.ts'
import { COMMAND_DEFAULTS } from '../node/fault-controller.ts'
import { DEFAULT_SOFT_ERRORS, ERROR_KINDS, FAULT_SITES } from '../training/soft-errors.ts'
import { main } from './cli.ts'

describe('codenet fault flags', () => {
  it('builds each kind with its defaults and refuses bad or foreign flags', () => {
    expect(faultFromFlags('soft-error', { seed: '4' }, 6).cmd).toEqual({ kind: 'soft-error', seed: 4, rate: 0.05, errorKind: 'gaussian', magnitude: 1, site: 'matmul' })
    expect(faultFromFlags('soft-error', { rate: '0.5', kind: 'bitflip', site: 'any' }, 6).cmd).toMatchObject({ rate: 0.5, errorKind: 'bitflip', site: 'any' })
    expect(faultFromFlags('straggler', { 'delay-ms': '250' }, 6).cmd).toMatchObject({ delayMs: 250 })
    expect(faultFromFlags('straggler', {}, 6).cmd).toMatchObject({ delayMs: 1000 })
    expect(faultFromFlags('byzantine', { magnitude: '2' }, 6).cmd).toMatchObject({ magnitude: 2 })
    expect(faultFromFlags('partition', { from: '1', to: '4' }, 6).cmd).toMatchObject({ from: 1, to: 4 })
    expect(faultFromFlags('partition', {}, 6).cmd?.from).toBeUndefined()
    expect(faultFromFlags('clear', {}, 6)).toMatchObject({ cmd: null, target: 'all' })
    expect(faultFromFlags('clear', { peer: '2' }, 6).target).toBe(2)
    expect(() => faultFromFlags('straggler', { rate: '0.1' }, 6)).toThrow("--rate does not apply to 'straggler' (straggler takes --peer, --delay-ms, --seed)")
    expect(() => faultFromFlags('clear', { seed: '1' }, 6)).toThrow("--seed does not apply to 'clear' (clear takes --peer)")
    expect(() => faultFromFlags('soft-error', { rate: 'lots' }, 6)).toThrow("--rate must be a number between 0 and 1, got 'lots'")
    expect(() => faultFromFlags('soft-error', { kind: 'cosmic' }, 6)).toThrow("--kind must be one of gaussian|bitflip, got 'cosmic'")
    expect(() => faultFromFlags('soft-error', { site: 'lunch' }, 6)).toThrow(`--site must be one of ${[...FAULT_SITES, 'any'].join('|')}, got 'lunch'`)
    expect(() => faultFromFlags('straggler', { 'delay-ms': '-1' }, 6)).toThrow(/--delay-ms/)
    expect(() => faultFromFlags('pause', { seed: '1.5' }, 6)).toThrow(/--seed must be a whole number/)
    expect(() => faultFromFlags('partition', { from: '1' }, 6)).toThrow(/both/)
    expect(() => faultFromFlags('partition', { from: '1', to: '1' }, 6)).toThrow(/different/)
    expect(() => faultFromFlags('partition', { from: '1', to: '9' }, 6)).toThrow("--to must be a peer index 0…5, got '9'")
    expect(() => faultFromFlags('flood', {}, 6)).toThrow(/unknown fault kind/)
    expect(() => faultFromFlags('pause', { bogus: '1' }, 6)).toThrow(/unknown option --bogus/)
    const s = faultFromFlags('pause', {}, 6).cmd?.seed as number
    expect(Number.isInteger(s) && s >= 0).toBe(true)
  })

  it('--step is a deprecated alias of --site: same effect, one notice', () => {
    const a = faultFromFlags('soft-error', { step: 'decode', seed: '1' }, 6)
    const b = faultFromFlags('soft-error', { site: 'decode', seed: '1' }, 6)
    expect(a.cmd).toEqual(b.cmd)
    expect(a.warnings).toEqual(['--step is deprecated; use --site (same meaning)'])
    expect(b.warnings).toEqual([])
    expect(() => faultFromFlags('soft-error', { step: 'lunch' }, 6)).toThrow(/--step must be one of/)
    expect(() => faultFromFlags('soft-error', { step: 'decode', site: 'decode' }, 6)).toThrow(/once/)
    expect(() => faultFromFlags('straggler', { step: 'decode' }, 6)).toThrow(/--step does not apply to 'straggler'/)
  })

  it('a crash\'s restart delay is the launcher\'s: recorded, never in the peers\' command', () => {
    const r = faultFromFlags('crash', { 'restart-after-s': '3', seed: '2' }, 6)
    expect(r.launcher).toEqual({ restartAfterS: 3 })
    expect(r.cmd).toEqual({ kind: 'crash', seed: 2 })
    expect(faultFromFlags('crash', {}, 6).launcher).toEqual({})
    expect(() => faultFromFlags('crash', { 'restart-after-s': 'soon' }, 6)).toThrow(/--restart-after-s/)
  })

  it('peer indices: checked against the wire bound first, the testnet size later', () => {
    const r = faultFromFlags('partition', { from: '0', to: '7', peer: '5' }, null)
    expect(r.cmd).toMatchObject({ from: 0, to: 7 })
    expect(() => checkPeerIndices(r, 8)).not.toThrow()
    expect(() => checkPeerIndices(r, 6)).toThrow("--to must be a peer index 0…5, got '7'")
    expect(() => checkPeerIndices({ target: 6, cmd: null }, 6)).toThrow(/--peer/)
    expect(() => faultFromFlags('pause', { peer: '256' }, null)).toThrow(/--peer/)
  })

  it('targets', () => {
    expect(parseTarget(undefined, 4)).toBe('all')
    expect(parseTarget('all', 4)).toBe('all')
    expect(parseTarget('2', 4)).toBe(2)
    expect(() => parseTarget('4', 4)).toThrow(/0…3/)
    expect(() => parseTarget('-1', 4)).toThrow()
  })
})

describe('the parameter table', () => {
  it('holds the soft-error defaults of training/soft-errors.ts and the peer\'s meaning of an absent field', () => {
    const row = (flag: string): FaultParam => FAULT_PARAMS.find(p => p.flag === flag) as FaultParam
    expect(row('rate').default).toBe(DEFAULT_SOFT_ERRORS.commandRate)
    expect(row('kind').default).toBe(DEFAULT_SOFT_ERRORS.kind)
    expect(row('kind').value).toEqual({ type: 'choice', choices: ERROR_KINDS })
    expect(row('magnitude').default).toBe(DEFAULT_SOFT_ERRORS.magnitude)
    expect(row('site').default).toBe(DEFAULT_SOFT_ERRORS.site)
    expect(row('delay-ms').default).toBe(COMMAND_DEFAULTS.delayMs)
  })

  it('agrees with the peers\' wire check at every bound', () => {
    for (const p of FAULT_PARAMS) {
      if (p.to !== 'peer' || p.field === 'seed') continue
      const kind = p.kinds[0] as Exclude<typeof p.kinds[number], 'clear'>
      const body = (v: unknown): Record<string, unknown> => ({ kind, seed: 1, ...(p.field === 'from' || p.field === 'to' ? { from: 0, to: 0 } : {}), [p.field]: v })
      const v = p.value
      if (v.type === 'choice') {
        for (const c of v.choices) expect(() => parseFaultCommand(body(c)), `${p.flag}=${c}`).not.toThrow()
        expect(() => parseFaultCommand(body('nope'))).toThrow(FaultCommandError)
      } else if (v.type === 'number' || v.type === 'whole') {
        const max = v.max === 'peer' ? 255 : v.max
        expect(() => parseFaultCommand(body(v.min)), `${p.flag}=${v.min}`).not.toThrow()
        expect(() => parseFaultCommand(body(max)), `${p.flag}=${max}`).not.toThrow()
        expect(() => parseFaultCommand(body(v.min - 1)), `${p.flag}=${v.min - 1}`).toThrow(FaultCommandError)
        expect(() => parseFaultCommand(body(max + 1)), `${p.flag}=${max + 1}`).toThrow(FaultCommandError)
      }
    }
  })

  it('generates the parseArgs options and --help', () => {
    for (const p of FAULT_PARAMS) {
      expect(FAULT_FLAG_OPTIONS[p.flag]).toEqual({ type: 'string' })
      expect(faultUsage()).toContain(`--${p.flag} ${p.arg}`)
    }
    expect(FAULT_FLAG_OPTIONS.step).toEqual({ type: 'string' })
    for (const k of FAULT_KINDS_AND_CLEAR) expect(faultUsage()).toMatch(new RegExp(`^  ${k} `, 'm'))
    expect(faultUsage()).toMatch(new RegExp(`--site S +soft-error +${DEFAULT_SOFT_ERRORS.site} +${[...FAULT_SITES, 'any'].join('\\|')}: `))
  })
})

describe('codenet fault: bad input is one line and exit 2, before looking for a testnet', () => {
  const sink = (): NodeJS.WritableStream & { text: string } => {
    const s = { text: '', write (c: string) { s.text += c; return true } }
    return s as unknown as NodeJS.WritableStream & { text: string }
  }
  it.each([
    [['straggler', '--rate', '0.1'], "codenet fault: --rate does not apply to 'straggler' (straggler takes --peer, --delay-ms, --seed)"],
    [['soft-error', '--site', 'lunch'], 'codenet fault: --site must be one of'],
    [['soft-error', '--step', 'lunch'], 'codenet fault: --step must be one of'],
    [['meteor'], "codenet fault: unknown fault kind 'meteor'"],
    [['pause', '--peer', 'x'], "codenet fault: --peer must be a peer index or 'all', got 'x'"]
  ])('%j', async (argv, line) => {
    const out = sink(); const err = sink()
    expect(await main(['fault', ...argv], { stdout: out, stderr: err })).toBe(2)
    expect(err.text.split('\n')[0]).toContain(line)
    expect(err.text).not.toMatch(/ at .*\.ts:\d+/)
  })
  it('--help is the table', async () => {
    const out = sink()
    expect(await main(['fault', '--help'], { stdout: out, stderr: sink() })).toBe(0)
    expect(out.text).toContain(faultUsage())
  })
})
