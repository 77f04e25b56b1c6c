import { describe, it, expect } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlVerifier, ControlAuthError, generateControlKey, signControlRequest, saveControlKey, loadControlPrivateKey, loadControlPublicKey, MAX_CLOCK_SKEW_MS, MAX_COMMAND_LIFETIME_MS, type RefusalReason } from './control-auth.ts'
import type { ControlRequest, ControlTarget } from '../protocols/control.ts'
import { canonicalJson } from '../protocols/job.ts'
import { sign } from 'node:crypto'

/** The refusal reason of `v.check(req, self)`, or 'ok'. */
function verdict (v: ControlVerifier, req: ControlRequest, self: ControlTarget): RefusalReason | 'ok' {
  try { v.check(req, self) } catch (err) {
    expect(err).toBeInstanceOf(ControlAuthError)
    return (err as ControlAuthError).reason ?? 'no reason' as RefusalReason
  }
  return 'ok'
}

describe('signed control commands', () => {
  const k = generateControlKey()
  const A: ControlTarget = { peer: '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', job: 'a'.repeat(64), boot: '0'.repeat(32) }
  const B: ControlTarget = { ...A, peer: '12D3KooWBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }
  const pause = { kind: 'pause', seed: 1 }

  it('accepts a fresh command signed with the authorised key for this peer, job and boot, once', () => {
    const v = new ControlVerifier(k.publicKey)
    const req = signControlRequest(k.privateKey, 'fault', pause, A)
    expect(req).toMatchObject({ target: A, expiresAt: (req.issuedAt ?? 0) + 30_000 })
    expect(verdict(v, req, A)).toBe('ok')
    expect(() => { v.check(req, A) }).toThrow(/replayed/)
  })

  it('refuses another key, a tampered body, type or binding, and a missing signature', () => {
    const v = new ControlVerifier(k.publicKey)
    const other = generateControlKey()
    expect(() => { v.check(signControlRequest(other.privateKey, 'fault', pause, A), A) }).toThrow(/does not obey/)
    const req = signControlRequest(k.privateKey, 'fault', pause, A)
    expect(() => { v.check({ ...req, body: { kind: 'crash', seed: 1 } }, A) }).toThrow(/bad signature/)
    expect(() => { v.check({ ...req, type: 'fault-clear' }, A) }).toThrow(/bad signature/)
    // The binding is signed: re-aiming a captured envelope at another peer breaks the signature.
    expect(verdict(v, { ...req, target: B }, B)).toBe('bad-signature')
    expect(verdict(v, { ...req, expiresAt: (req.expiresAt ?? 0) + 3_600_000 }, A)).toBe('bad-signature')
    const { signature: _s, ...unsigned } = req
    expect(verdict(v, unsigned, A)).toBe('unsigned')
    // An envelope of the old shape, signed over { v, type, id, body } only: refused.
    const { target: _t, issuedAt: _i, expiresAt: _e, signature: _s2, ...bare } = req
    const oldStyle = { ...bare, signature: sign(null, Buffer.from(canonicalJson({ v: 1, type: 'fault', id: req.id, body: pause })), k.privateKey).toString('base64') }
    expect(verdict(v, oldStyle, A)).toBe('bad-signature')
    // Signed by the key but bound to nothing: refused with its own reason.
    const nulls = { ...bare, signature: sign(null, Buffer.from(canonicalJson({ v: 1, type: 'fault', id: req.id, body: pause, target: null, issuedAt: null, expiresAt: null })), k.privateKey).toString('base64') }
    expect(verdict(v, nulls, A)).toBe('unbound')
  })

  it('refuses a command for another peer, another job or another boot, with its reason', () => {
    const v = new ControlVerifier(k.publicKey)
    const req = signControlRequest(k.privateKey, 'fault', pause, A)
    expect(() => { v.check(req, B) }).toThrow(/is for peer 12D3KooWAaaa…, not this peer/)
    expect(verdict(v, req, B)).toBe('wrong-peer')
    expect(verdict(v, req, { ...A, job: 'b'.repeat(64) })).toBe('wrong-job')
    expect(() => { v.check(req, { ...A, boot: '1'.repeat(32) }) }).toThrow(/another boot of this peer/)
    expect(verdict(v, req, { ...A, boot: '1'.repeat(32) })).toBe('stale-boot')
    // None of those refusals used the id up: the peer it is for still obeys it.
    expect(verdict(v, req, A)).toBe('ok')
  })

  it('refuses an expired command, one from the future and one with too long a lifetime', () => {
    let now = 1_800_000_000_000
    const v = new ControlVerifier(k.publicKey, { now: () => now })
    // Valid 5 s; refused once that and the clock tolerance are over (the old ±60 s window took it).
    const short = signControlRequest(k.privateKey, 'fault', pause, A, { now, lifetimeMs: 5000 })
    now += 5000 + MAX_CLOCK_SKEW_MS + 1
    expect(() => { v.check(short, A) }).toThrow(/command expired 30 s ago/)
    expect(verdict(v, short, A)).toBe('expired')
    expect(verdict(v, signControlRequest(k.privateKey, 'fault', pause, A, { now: now + MAX_CLOCK_SKEW_MS + 1000 }), A)).toBe('not-yet-valid')
    expect(verdict(v, signControlRequest(k.privateKey, 'fault', pause, A, { now, lifetimeMs: MAX_COMMAND_LIFETIME_MS + 1 }), A)).toBe('bad-lifetime')
    expect(verdict(v, signControlRequest(k.privateKey, 'fault', pause, A, { now, lifetimeMs: 0 }), A)).toBe('bad-lifetime')
    // Within the clock tolerance either way: accepted.
    expect(verdict(v, signControlRequest(k.privateKey, 'fault', pause, A, { now: now + MAX_CLOCK_SKEW_MS - 1000 }), A)).toBe('ok')
    expect(verdict(v, signControlRequest(k.privateKey, 'fault', pause, A, { now: now - 30_000 - MAX_CLOCK_SKEW_MS + 1000 }), A)).toBe('ok')
  })
  it('round-trips key files and refuses junk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-key-'))
    saveControlKey(k, join(dir, 'k.pem'), join(dir, 'k.pub'))
    const priv = loadControlPrivateKey(join(dir, 'k.pem'))
    const v = new ControlVerifier(loadControlPublicKey(join(dir, 'k.pub')))
    const self: ControlTarget = { peer: '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', job: 'j', boot: 'b' }
    expect(() => { v.check(signControlRequest(priv, 'fault-clear', {}, self), self) }).not.toThrow()
    expect(() => loadControlPublicKey(join(dir, 'nope'))).toThrow(/cannot read/)
    // A peer is given only the public half: the private key where a public one is expected is refused.
    expect(() => loadControlPublicKey(join(dir, 'k.pem'))).toThrow(/k\.pem is a private key/)
  })
})
