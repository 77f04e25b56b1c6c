/**
 * Hostile input at the edge of `codenet peer` and `codenet job init`: every bad value, busy
 * port, wrong key or insane checkpoint gives one clear line and a non-zero exit, never a stack
 * trace; a stall is reported with its cause; an insane checkpoint is refused and the previous
 * one restored.
 */
import { describe, expect, it, afterEach } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { runCli } from '../testing.ts'
import { COMMANDS } from '../cli.ts'
import { createJobSpec } from '../../protocols/job.ts'
import { trainingConfigFromFlags, type RawTrainingFlags } from '../../training/config.ts'
import { generateControlKey, saveControlKey } from '../../node/control-auth.ts'
import { createHost, PeerConfigError } from '../../node/peer.ts'
import { decodeCheckpoint, encodeCheckpoint } from '../../node/store.ts'
import { deserializeCheckpoint, serializeCheckpoint } from '../../training/checkpoint.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const BIN = join(ROOT, 'testnet', 'bin.js')
const STACK = /\n\s+at /

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'codenet-hostile-'))

/** An open job file (no admission section) for these flags. */
function jobFile (dir: string, flags: RawTrainingFlags, name = 'job.json'): string {
  const path = join(dir, name)
  writeFileSync(path, `${JSON.stringify(createJobSpec(trainingConfigFromFlags(flags)), null, 2)}\n`)
  return path
}

interface Run { child: ChildProcess, stderr: string, stdout: string, exit: Promise<number | null> }
const children: ChildProcess[] = []
afterEach(() => { for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL') })

function codenet (args: string[], opts: { nodeArgs?: string[], env?: Record<string, string> } = {}): Run {
  const child = spawn(NODE, [...(opts.nodeArgs ?? []), BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  children.push(child)
  const r: Run = { child, stderr: '', stdout: '', exit: new Promise(resolve => { child.on('exit', code => { resolve(code) }) }) }
  child.stderr?.on('data', (d: Buffer) => { r.stderr += d.toString() })
  child.stdout?.on('data', (d: Buffer) => { r.stdout += d.toString() })
  return r
}

const peerArgs = (job: string, dataDir: string, extra: string[] = []): string[] =>
  ['peer', '--job', job, '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', ...extra]

async function waitFor (r: Run, re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const m = re.exec(r.stderr)
    if (m !== null) return m
    if (r.child.exitCode !== null || Date.now() > end) throw new Error(`no ${re} (exit ${r.child.exitCode}):\n${r.stderr.slice(-3000)}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('codenet peer / job init: bad input is one line, exit 2', () => {
  it('refuses hostile job files, flags, keys and data dirs before anything starts', async () => {
    const dir = tempDir()
    const good = jobFile(dir, { peers: '2', dataset: 'synthetic', model: '8-4', steps: '5' })
    const spec = JSON.parse(readFileSync(good, 'utf8'))
    const hostile = (patch: Record<string, unknown>): string => {
      const path = join(dir, `hostile-${Object.keys(patch).join('-')}.json`)
      writeFileSync(path, JSON.stringify({ ...spec, config: { ...spec.config, ...patch } }))
      return path
    }
    const keys = generateControlKey()
    const priv = join(dir, 'control.key.pem'); const pub = join(dir, 'control.pub.pem')
    saveControlKey(keys, priv, pub)
    const aFile = join(dir, 'a-file'); writeFileSync(aFile, 'x')
    const cases: Array<[string[], RegExp]> = [
      [['peer', '--job', hostile({ batch: 0 })], /--batch must be between 1 and 65536, got 0/],
      [['peer', '--job', hostile({ peers: 1000 })], /--peers must be between 1 and 64, got 1000/],
      [['peer', '--job', hostile({ strategy: 'foo' })], /--strategy must be one of/],
      [['peer', '--job', hostile({ model: [64, 1e9, 10] })], /width 2 must be a whole number between 1 and 65536/],
      [['peer', '--job', good, '--control-key', priv], /is a private key: a peer needs only the public half/],
      [['peer', '--job', good, '--data-dir', aFile], /--data-dir .*a-file is a file, not a directory/],
      [['peer', '--job', good, '--listen', '/ip4/127.0.0.1/tcp/0/ws'], /--listen \/ip4\/127\.0\.0\.1\/tcp\/0\/ws: a codenet peer listens on /],
      [['job', 'init', '--model', '64-65536-65536-10', '--dataset', 'synthetic'], /more than the cap of 16777216/],
      [['job', 'init', '--peers', '1000'], /--peers must be between 1 and 64/],
      [['job', 'init', '--batch', '0'], /--batch must be between 1/]
    ]
    for (const [argv, re] of cases) {
      const r = await runCli(argv)
      expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(2)
      expect(r.err).toMatch(re)
      expect(r.err).not.toMatch(STACK)
    }
  })

  it('any other error a command throws: `codenet <cmd>: <name>: <message>`, exit 1', async () => {
    COMMANDS.push({ name: 'explode', summary: '', usage: '', run: async () => { throw new RangeError('boom\nsecond line') } })
    try {
      const r = await runCli(['explode'])
      expect(r.code).toBe(1)
      expect(r.err).toBe('codenet explode: RangeError: boom second line\n')
    } finally {
      COMMANDS.pop()
    }
  })

  it('an error escaping every command (an unhandled rejection) is one line from bin.js; the stack only with CODENET_DEBUG=1', async () => {
    const reject = ['--import', 'data:text/javascript,setTimeout(() => Promise.reject(new RangeError("boom")), 300)']
    const args = ['simulate', '--dataset', 'synthetic', '--model', '8-4', '--steps', '100000', '--quiet']
    const plain = codenet(args, { nodeArgs: reject })
    expect(await plain.exit).toBe(1)
    expect(plain.stderr).toBe('codenet simulate: RangeError: boom\n')
    const debug = codenet(args, { nodeArgs: reject, env: { CODENET_DEBUG: '1' } })
    expect(await debug.exit).toBe(1)
    expect(debug.stderr).toMatch(/^codenet simulate: RangeError: boom\nRangeError: boom\n\s+at /)
  })
})

describe('listen failures are one line', () => {
  it('a busy port: exit 1 naming the address, no libp2p stack', async () => {
    const dir = tempDir()
    const job = jobFile(dir, { peers: '2', dataset: 'synthetic', model: '8-4', steps: '5' })
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const r = codenet(['peer', '--job', job, '--data-dir', join(dir, 'p'), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-mdns'])
      expect(await r.exit).toBe(1)
      expect(r.stderr).toMatch(new RegExp(`^codenet peer: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port}: the port is already in use$`, 'm'))
      expect(r.stderr).not.toMatch(STACK)
    } finally {
      server.close()
    }
  })

  it('an address of no local interface, or a transport peers lack: PeerConfigError', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    await expect(createHost({ privateKey, listen: ['/ip4/192.0.2.1/tcp/0'], mdns: false })).rejects.toThrow(/^cannot listen on \/ip4\/192\.0\.2\.1\/tcp\/0: no network interface of this machine has that address$/)
    await expect(createHost({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0/ws'], mdns: false })).rejects.toThrow(PeerConfigError)
  })
})

describe('a real peer', () => {
  it('refuses a checkpoint rewritten with valid checksums and NaN weights, and restores the previous one', async () => {
    // One uncoded peer: a job of its own (codenet needs two peers: `--code/--peers … at least 2`).
    const dir = tempDir()
    const job = jobFile(dir, { peers: '1', strategy: 'uncoded', dataset: 'synthetic', model: '8-4', steps: '30', 'checkpoint-every': '10' })
    const dataDir = join(dir, 'p')
    const first = codenet(peerArgs(job, dataDir))
    expect(await first.exit, first.stderr).toBe(0)
    const newest = join(dataDir, readdirSync(dataDir).filter(f => f.endsWith('.ck')).sort().at(-1) as string)
    expect(newest).toMatch(/checkpoint-0000000030\.ck$/)
    const ck = decodeCheckpoint(readFileSync(newest))
    const state = deserializeCheckpoint(ck.blobs.get('trainer') as Uint8Array)
    state.layers[0].shard.data[0] = NaN
    ck.blobs.set('trainer', serializeCheckpoint(state))
    writeFileSync(newest, encodeCheckpoint(ck))
    const again = codenet(peerArgs(job, dataDir))
    expect(await again.exit, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/refused checkpoint .*checkpoint-0000000030\.ck: checkpoint layer 0 shard holds a non-finite value \(NaN\) at 0\n/)
    expect(again.stderr).toMatch(/restored checkpoint of step 20\n/)
    expect(again.stdout).toMatch(/^peer 0 of 1: 30 steps/)
  }, 180_000)

  it('a stall ends a peer with its cause in one line, not a stack trace', async () => {
    // Two peers, m = n = 1: nothing to correct with. Both corrupt every product they publish, so
    // rounds do not decode and steps roll back until the stall limit stops a peer. (The other may
    // first resync past it and then fail to decode the final weights: also one line, exit 1.)
    const dir = tempDir()
    const job = jobFile(dir, { peers: '2', dataset: 'synthetic', model: '8-4', steps: '30' })
    const faulty = ['--round-timeout-ms', '100', '--fault-rate', '1']
    const p0 = codenet(peerArgs(job, join(dir, 'p0'), faulty))
    const boot = (await waitFor(p0, /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/))[1]
    const p1 = codenet(peerArgs(job, join(dir, 'p1'), [...faulty, '--bootstrap', boot]))
    const last: string[] = []
    for (const p of [p0, p1]) {
      expect(await p.exit, p.stderr.slice(-2000)).toBe(1)
      expect(p.stderr).not.toMatch(STACK)
      last.push(/\n(codenet peer: .*)\n$/.exec(p.stderr)?.[1] ?? p.stderr.slice(-500))
    }
    expect(last.some(l => /^codenet peer: training stalled: \d+ rollbacks in a row to step \d+: training makes no progress/.test(l)), last.join('\n')).toBe(true)
    for (const l of last) expect(l).toMatch(/^codenet peer: (training stalled: |UncorrectableError: cannot decode weights)/)
  }, 120_000)
})
