import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { parseFaultCommand, FaultCommandError, FAULT_KINDS, faultAppliedSchema, faultClearedSchema } from './fault-command.ts'

describe('fault command body', () => {
  it('accepts every kind with its parameters, and drops unknown fields', () => {
    for (const kind of FAULT_KINDS) expect(parseFaultCommand({ kind, seed: 0 })).toEqual({ kind, seed: 0 })
    expect(parseFaultCommand({ kind: 'soft-error', seed: 2 ** 31 - 1, rate: 1, errorKind: 'bitflip', magnitude: 0, site: 'any' }))
      .toEqual({ kind: 'soft-error', seed: 2 ** 31 - 1, rate: 1, errorKind: 'bitflip', magnitude: 0, site: 'any' })
    expect(parseFaultCommand({ kind: 'soft-error', seed: 1, site: 'update' }).site).toBe('update')
    expect(parseFaultCommand({ kind: 'straggler', seed: 1, delayMs: 10 }).delayMs).toBe(10)
    expect(parseFaultCommand({ kind: 'partition', seed: 1, from: 0, to: 255 })).toMatchObject({ from: 0, to: 255 })
    expect(parseFaultCommand({ kind: 'pause', seed: 1, note: 'x' })).toEqual({ kind: 'pause', seed: 1 })
  })

  it.each([
    [{ kind: 'meteor', seed: 1 }, /unknown fault kind 'meteor'/],
    [{ seed: 1 }, /unknown fault kind/],
    [{ kind: 'pause', seed: -1 }, /seed/],
    [{ kind: 'pause', seed: 2 ** 31 }, /seed/],
    [{ kind: 'pause', seed: 1.5 }, /seed/],
    [{ kind: 'pause', seed: '1' }, /seed/],
    [{ kind: 'pause' }, /seed/],
    [{ kind: 'soft-error', seed: 1, rate: 2 }, /fault soft-error: bad 'rate'/],
    [{ kind: 'soft-error', seed: 1, rate: -0.1 }, /'rate'/],
    [{ kind: 'soft-error', seed: 1, errorKind: 'cosmic' }, /'errorKind'/],
    [{ kind: 'soft-error', seed: 1, magnitude: 1e13 }, /'magnitude'/],
    [{ kind: 'soft-error', seed: 1, site: 'disk' }, /'site'/],
    [{ kind: 'straggler', seed: 1, delayMs: 600_001 }, /'delayMs'/],
    [{ kind: 'straggler', seed: 1, delayMs: '10' }, /'delayMs'/],
    [{ kind: 'partition', seed: 1, from: 256, to: 0 }, /'from'/],
    [{ kind: 'partition', seed: 1, from: 0, to: 0.5 }, /'to'/],
    [{ kind: 'partition', seed: 1, from: 1 }, /both/],
    ['x', /must be an object/],
    [null, /must be an object/],
    [[{ kind: 'pause', seed: 1 }], /must be an object/]
  ])('refuses %j', (body, message) => {
    expect(() => parseFaultCommand(body)).toThrow(FaultCommandError)
    expect(() => parseFaultCommand(body)).toThrow(message)
  })

  it('only ever throws FaultCommandError', () => {
    fc.assert(fc.property(fc.anything(), v => {
      try { parseFaultCommand(v) } catch (err) { expect(err).toBeInstanceOf(FaultCommandError) }
    }))
    fc.assert(fc.property(fc.record({ kind: fc.constantFrom(...FAULT_KINDS), seed: fc.anything(), rate: fc.anything(), from: fc.anything() }), v => {
      try { parseFaultCommand(v) } catch (err) { expect(err).toBeInstanceOf(FaultCommandError) }
    }))
  })
})

describe('fault replies', () => {
  it('accept the controller answers and refuse others', () => {
    expect(faultAppliedSchema.safeParse({ applied: 'pause', active: ['pause', 'straggler'] }).success).toBe(true)
    expect(faultAppliedSchema.safeParse({ applied: 'meteor', active: [] }).success).toBe(false)
    expect(faultAppliedSchema.safeParse({ applied: 'pause', active: Array(100).fill('pause') }).success).toBe(false)
    expect(faultClearedSchema.safeParse({ cleared: true }).success).toBe(true)
    expect(faultClearedSchema.safeParse({ cleared: 'yes' }).success).toBe(false)
  })
})
