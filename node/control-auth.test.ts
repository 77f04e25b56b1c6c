import { describe, it, expect } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlVerifier, ControlAuthError, generateControlKey, signControlRequest, saveControlKey, loadControlPrivateKey, loadControlPublicKey, REPLAY_WINDOW_MS } from './control-auth.ts'

describe('signed control commands', () => {
  const k = generateControlKey()
  it('accepts a fresh command signed with the authorised key, once', () => {
    const v = new ControlVerifier(k.publicKey)
    const req = signControlRequest(k.privateKey, 'fault', { kind: 'pause', seed: 1 })
    expect(() => { v.check(req) }).not.toThrow()
    expect(() => { v.check(req) }).toThrow(/replayed/)
  })
  it('refuses another key, a tampered body, a missing signature and a stale timestamp', () => {
    const v = new ControlVerifier(k.publicKey)
    const other = generateControlKey()
    expect(() => { v.check(signControlRequest(other.privateKey, 'fault', { kind: 'pause', seed: 1 })) }).toThrow(/does not obey/)
    const req = signControlRequest(k.privateKey, 'fault', { kind: 'pause', seed: 1 })
    expect(() => { v.check({ ...req, body: { kind: 'crash', seed: 1 } }) }).toThrow(/bad signature/)
    expect(() => { v.check({ ...req, type: 'fault-clear' }) }).toThrow(/bad signature/)
    const { signature: _s, ...unsigned } = req
    expect(() => { v.check(unsigned) }).toThrow(ControlAuthError)
    const old = signControlRequest(k.privateKey, 'fault', { kind: 'pause', seed: 1 }, Date.now() - REPLAY_WINDOW_MS - 5000)
    expect(() => { v.check(old) }).toThrow(/replay window/)
  })
  it('round-trips key files and refuses junk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codenet-key-'))
    saveControlKey(k, join(dir, 'k.pem'), join(dir, 'k.pub'))
    const priv = loadControlPrivateKey(join(dir, 'k.pem'))
    const v = new ControlVerifier(loadControlPublicKey(join(dir, 'k.pub')))
    expect(() => { v.check(signControlRequest(priv, 'fault-clear', {})) }).not.toThrow()
    expect(() => loadControlPublicKey(join(dir, 'nope'))).toThrow(/cannot read/)
    expect(() => loadControlPublicKey(join(dir, 'k.pem'))).not.toThrow() // a private key implies its public key
  })
})
