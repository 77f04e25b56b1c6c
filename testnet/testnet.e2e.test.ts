/**
 * End to end, through the real CLI: a kept testnet of 4 peer processes with the dashboard;
 * a crash (with restart), a straggler, a byzantine peer and soft errors injected with
 * `codenet fault`; `codenet status --json` must show training went on and every fault was
 * seen; the dashboard, in real headless Chromium, shows the 4 peers and the injected faults
 * (the test saves its screenshot in its temporary folder; with CODENET_UPDATE_SCREENSHOT=1 —
 * `npm run docs:screenshot` — it writes docs/dashboard.png for the README instead);
 * `codenet testnet down` must leave no process behind.
 *
 * Chromium: Debian's /usr/bin/chromium. Missing → the test fails, unless CODENET_SKIP_BROWSER=1.
 */
import { describe, it, expect, afterAll } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StatusReport } from './commands/status.ts'
import type { TestnetState } from './state.ts'

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url))
const DOCS_PNG = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url))
const CHROMIUM = process.env.CODENET_CHROMIUM ?? '/usr/bin/chromium'
const dir = mkdtempSync(join(tmpdir(), 'codenet-testnet-e2e-'))
const stateDir = join(dir, 'testnet')
const env = { ...process.env, CODENET_TESTNET_DIR: stateDir }
/** `npm test` must not rewrite tracked files: docs/dashboard.png only on request (`npm run docs:screenshot`). */
const SCREENSHOT = process.env.CODENET_UPDATE_SCREENSHOT === '1' ? DOCS_PNG : join(dir, 'dashboard.png')

async function cli (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], { env, cwd: dir, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as any).code === 'number' ? (err as any).code : 1, stdout, stderr })
    })
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
const state = (): TestnetState => JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8'))

async function status (): Promise<StatusReport> {
  const r = await cli('status', '--json')
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** Poll `codenet status --json` until `ok` holds (or fail with the last report). */
async function until (what: string, ok: (s: StatusReport) => boolean, timeoutMs = 90_000): Promise<StatusReport> {
  const end = Date.now() + timeoutMs
  let last: StatusReport | null = null
  while (Date.now() < end) {
    last = await status()
    if (ok(last)) return last
    await sleep(1000)
  }
  throw new Error(`${what}: not seen within ${timeoutMs / 1000} s; last status: ${JSON.stringify(last, null, 1).slice(0, 3000)}`)
}

/**
 * Six peers: the code then tolerates f = 1 faulty voter and repairs from m·n + 1 = 3 of 5 healthy
 * shards. With four (f = 0) a crash, a byzantine peer and a straggler at once are beyond what the
 * quorum rule can absorb, and a network split two against two cannot be repaired (docs/design.md).
 */
const PEERS = 6
const pids = new Set<number>()

afterAll(async () => {
  if (existsSync(join(stateDir, 'state.json'))) {
    for (const p of state().peers) if (p.pid !== null) pids.add(p.pid)
    pids.add(state().pid)
  }
  await cli('testnet', 'down')
  for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}, 60_000)

describe('codenet testnet --keep + fault + status + dashboard', () => {
  it('trains through a crash, a straggler, a byzantine peer and soft errors; every fault is seen; no orphans', async () => {
    // Two processes host the peers (as on a 2-core machine by default): the crash ends one peer
    // of a host, whose other peers train on, and the restart starts it in the same host again.
    const up = await cli('testnet', '--keep', '--dashboard', '--peers', String(PEERS), '--dataset', 'synthetic', '--model', '16-12-4', '--steps', '2000',
      '--checkpoint-every', '20', '--error-rate', '0', '--round-timeout-ms', '3000', '--processes', '2')
    expect(up.code, `${up.stdout}\n${up.stderr}\n${existsSync(join(stateDir, 'launcher.log')) ? readFileSync(join(stateDir, 'launcher.log'), 'utf8').slice(-3000) : ''}`).toBe(0)
    const st = state()
    expect(st.peers).toHaveLength(PEERS)
    for (const p of st.peers) if (p.pid !== null) pids.add(p.pid)
    pids.add(st.pid)

    const first = await until(`all ${PEERS} peers indexed and training`, s => s.peers.filter(p => p.index !== null && p.state !== 'joining').length === PEERS && (s.step ?? 0) >= 3)
    const byIndex = new Map(first.peers.map(p => [p.index as number, p]))
    expect([...byIndex.keys()].sort()).toEqual(Array.from({ length: PEERS }, (_, i) => i))

    // The dashboard, in a real browser, before and after the faults.
    const browser = process.env.CODENET_SKIP_BROWSER === '1' ? null : await openDashboard(st.dashboardUrl as string)
    if (browser !== null) {
      await browser.page.waitForFunction((n: number) => document.querySelectorAll('#peers .peer').length === n, PEERS, { timeout: 30_000 })
    }

    // A peer that does not hold the testnet's key cannot be told anything: checked in
    // node/fault-controller.test.ts. Here: the four faults, through the CLI.
    const f1 = await cli('fault', 'byzantine', '--peer', '1', '--magnitude', '2', '--seed', '7')
    expect(f1.code, f1.stdout + f1.stderr).toBe(0)
    const f2 = await cli('fault', 'straggler', '--peer', '2', '--delay-ms', '400', '--seed', '8')
    expect(f2.code, f2.stdout + f2.stderr).toBe(0)
    const f3 = await cli('fault', 'soft-error', '--peer', 'all', '--rate', '0.02', '--seed', '9')
    expect(f3.code, f3.stdout + f3.stderr).toBe(0)
    const before = await status()
    const f4 = await cli('fault', 'crash', '--peer', '3', '--restart-after-s', '2', '--seed', '10')
    expect(f4.code, f4.stdout + f4.stderr).toBe(0)
    const stepAtFaults = before.step ?? 0

    const seen = await until('every fault seen', s => {
      const p = new Map(s.peers.map(r => [r.index, r]))
      return (p.get(1)?.faults.flagged ?? 0) > (byIndex.get(1)?.faults.flagged ?? 0) && // byzantine results flagged by the others
        (p.get(2)?.faults.missing ?? 0) > (byIndex.get(2)?.faults.missing ?? 0) && // straggler's results missed
        (p.get(3)?.restarts ?? 0) >= 1 && // crashed and restarted by the launcher
        s.totals.injected > 0 && s.totals.detected > 0 && s.totals.corrected > 0 && // soft errors detected and corrected
        (s.events.byType.crash ?? 0) >= 1 && (s.events.byType.injected ?? 0) >= 4
    }, 120_000)
    expect(seen.peers.find(r => r.index === 1)?.faults.active).toContain('byzantine')

    if (browser !== null) {
      await browser.page.waitForFunction(() => Array.from(document.querySelectorAll('#timeline li[data-type=injected]'), li => li.textContent ?? '').some(t => t.includes('byzantine')), undefined, { timeout: 30_000 })
      await browser.page.waitForFunction(() => document.querySelectorAll('#timeline li[data-type=crash]').length > 0, undefined, { timeout: 30_000 })
      expect(await browser.page.locator('#peers .peer').count()).toBe(PEERS)
      await browser.page.screenshot({ path: SCREENSHOT, fullPage: true })
      await browser.close()
    }

    // Training goes on after the faults are cleared.
    const c = await cli('fault', 'clear')
    expect(c.code, c.stdout + c.stderr).toBe(0)
    await until('training continued', s => (s.step ?? 0) >= stepAtFaults + 10 && s.peers.filter(r => r.state !== 'offline').length === PEERS, 120_000)
    const hist = readFileSync(join(stateDir, 'history.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l))
    expect(hist.map(h => h.kind)).toEqual(['byzantine', 'straggler', 'soft-error', 'crash', 'clear'])
    expect(hist[0]).toMatchObject({ target: 1, seed: 7, params: { magnitude: 2 } })

    const last = state()
    for (const p of last.peers) if (p.pid !== null) pids.add(p.pid)
    const down = await cli('testnet', 'down')
    expect(down.code, down.stderr).toBe(0)
    await sleep(500)
    expect([...pids].filter(alive)).toEqual([])
    const s2 = await cli('status')
    expect(s2.code).toBe(1)
    expect(s2.stderr).toMatch(/not running/)
  }, 290_000)
})

async function openDashboard (url: string): Promise<{ page: import('playwright-core').Page, close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CODENET_SKIP_BROWSER=1 to skip the browser check`)
  }
  const { chromium } = await import('playwright-core')
  const profile = mkdtempSync(join(tmpdir(), 'codenet-chromium-'))
  // A fresh profile (playwright passes it as --user-data-dir).
  const b = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']
  })
  const page = b.pages()[0] ?? await b.newPage()
  await page.goto(url)
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 })
  return { page, close: async () => { await b.close(); rmSync(profile, { recursive: true, force: true }) } }
}
