/**
 * The CI-sized slice of `codenet soak`: seeds 1..SEEDS of the default soak (6 peers, synthetic
 * 16-12-8-4, batch 8, 50 steps, random soft/network/peer faults within f), each against its clean
 * twin. Every run must complete with no silent error and decoded weights and biases within 1e-9
 * of the clean run's. A failure lists the seeds and their faults: replay one with
 * `npx codenet soak --seeds 1 --from S`.
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SoakRow } from '../soak/run.ts'
import { runCli } from '../testing.ts'

const SEEDS = 48

const run = runCli

describe('codenet soak', () => {
  it(`seeds 1..${SEEDS}: every run completes, silent 0, decoded model within 1e-9 of the clean run's`, async () => {
    const json = join(mkdtempSync(join(tmpdir(), 'codenet-soak-')), 'soak.json')
    const r = await run(['soak', '--seeds', String(SEEDS), '--from', '1', '--jobs', '1', '--json', json])
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { rows: SoakRow[], f: number }
    expect(doc.rows).toHaveLength(SEEDS)
    expect(doc.f).toBe(1)
    const bad = doc.rows
      .filter(row => row.outcome !== 'completed' || row.silent !== 0 || !((row.weightDistance ?? Infinity) <= 1e-9) || !((row.biasDistance ?? Infinity) <= 1e-9))
      .map(row => `seed ${row.seed}: ${row.outcome}${row.reason !== null ? ` (${row.reason})` : ''}, silent ${row.silent}, dW ${row.weightDistance}, dB ${row.biasDistance}; faults: ${row.faults}`)
    expect(bad).toEqual([])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(new RegExp(`summary: ${SEEDS} seeds, ${SEEDS} completed, 0 stalled, 0 exceptions; total silent 0;`))
  }, 300_000)

  it('a peer a rollback took further back than the others rejoins them where they are (seeds 921 and 1008 stalled)', async () => {
    // 921: one peer's audit at step 13 drew too few sketches, so the next rollback took it back
    // to step 11 while the others returned to 13; it moved on stale to 14 — one step ahead of a
    // network that, one member short during a partition, kept failing step 13 — and so did the
    // partitioned peer when it came back. 1008: the same after a crash. Both stalled.
    for (const seed of [921, 1008]) {
      const r = await run(['soak', '--seeds', '1', '--from', String(seed), '--jobs', '0'])
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/summary: 1 seeds, 1 completed, 0 stalled, 0 exceptions; total silent 0;/)
    }
  }, 180_000)

  it('identical errors at two peers do not outvote the right shards (P = 4, seed 91 was silent 200 times)', async () => {
    // The adversarial error model hits every peer struck in a round with the same pattern: at
    // step 29 two of four peers got the same wrong velocity, and a third a wrong update. The
    // audit judged with the probabilistic rule (any q + 1 agreeing shards win) and repaired the
    // one right peer to the wrong value; it now judges, repairs and decodes weights with the
    // job's error model, as decodes do.
    const r = await run(['soak', '--seeds', '1', '--from', '91', '--peers', '4', '--jobs', '0'])
    expect(r.code, r.out).toBe(0)
    expect(r.out).toMatch(/summary: 1 seeds, 1 completed, 0 stalled, 0 exceptions; total silent 0;/)
  }, 120_000)

  it('a peer that could not decode the step\'s first product is audited with the others\' salt (P = 8, seeds 21 and 77 stalled)', async () => {
    // The audit vectors are seeded by the step's first decoded product. A peer whose decode of it
    // failed (a byzantine result and a lost datagram) drew them with the previous step's salt:
    // its sketch matched no one's, so every pass named it, repaired it and named it again, and
    // the step rolled back — 51 times in a row. Sketches now carry their salt.
    for (const seed of [21, 77]) {
      const r = await run(['soak', '--seeds', '1', '--from', String(seed), '--peers', '8', '--jobs', '0'])
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/summary: 1 seeds, 1 completed, 0 stalled, 0 exceptions; total silent 0;/)
    }
  }, 180_000)

  it('two byzantine peers colluding on another code word are never accepted (P = 10, seed 27 was silent 22 times; seed 53 at P = 10 and 12)', async () => {
    // The byzantine injector offsets both peers' products by the same pattern: with part of
    // the results cut by the grace, the two and q − 1 honest results fitted another code word,
    // q + 1 agreeing, and the mode's rule took it. Decodes now need q + f agreeing results
    // (codes/decode.ts, colluders). Seed 53 then stalled: a network short of peers (a crash,
    // three rolled back further) failed its first round at once, so the laggards, hearing
    // nothing new during their step, never moved to it; they now take the position heard
    // since their rollback (training/trainer/resync.ts).
    // P = 12 seed 53 stalled the same way, one step apart: three peers whose audit drew too few
    // voters rolled back to the checkpoint before it, the rest to that audit's step; one step
    // ahead at the same attempt looked like speculation, so they never rejoined their candidate.
    for (const [seed, peers] of [[27, 10], [53, 10], [53, 12]]) {
      const r = await run(['soak', '--seeds', '1', '--from', String(seed), '--peers', String(peers), '--jobs', '0'])
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/summary: 1 seeds, 1 completed, 0 stalled, 0 exceptions; total silent 0;/)
    }
  }, 180_000)

  it('a byzantine peer plus datagram loss completes: a stuck round pulls its lost results (P = 5 seed 47, P = 8 seed 24 stalled)', async () => {
    // The byzantine peer uses the one error the code corrects, so every lost datagram left the
    // round undecidable and the step rolled back, 51 times in a row. A round whose results do
    // not decode now asks the senders of the lost ones again (training/memory-exchange.ts).
    for (const [seed, peers] of [[47, 5], [24, 8]]) {
      const r = await run(['soak', '--seeds', '1', '--from', String(seed), '--peers', String(peers), '--jobs', '0'])
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/summary: 1 seeds, 1 completed, 0 stalled, 0 exceptions; total silent 0;/)
    }
  }, 180_000)

  it('replays a seed exactly and refuses bad flags', async () => {
    const a = await run(['soak', '--seeds', '1', '--from', '7', '--jobs', '0'])
    const b = await run(['soak', '--seeds', '1', '--from', '7', '--jobs', '1'])
    const row = (out: string): string => out.split('\n')[2]
    expect(row(a.out)).toMatch(/^ {4}7 {2}/)
    expect(row(a.out)).toBe(row(b.out))
    for (const [argv, re] of [
      [[], /--seeds N is required/],
      [['--seeds', '0'], /--seeds must be between 1 and/],
      [['--seeds', '2', '--steps', '5'], /--steps must be between 20 and/],
      [['--seeds', '2', '--peers', 'x'], /--peers must be a whole number/],
      [['--seeds', '2', '--dataset', 'cifar'], /--dataset must be one of synthetic\|mnist/],
      [['--seeds', '2', '--model', '16'], /--model must list at least two layer widths/]
    ] as Array<[string[], RegExp]>) {
      const r = await run(['soak', ...argv])
      expect(r.code, argv.join(' ')).toBe(2)
      expect(r.err.split('\n')[0]).toMatch(re)
    }
  }, 120_000)
})
