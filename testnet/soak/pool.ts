/**
 * Runs soak seeds: in this process one after another (jobs 0), or in `jobs` worker threads, each
 * seed under a time limit — a seed that hangs (or kills its worker) becomes an exception row,
 * its worker is replaced, and the soak goes on.
 */
import { Worker } from 'node:worker_threads'
import type { SoakBase } from './nemesis.ts'
import { failedRow, runSoakSeed, type SoakRow } from './run.ts'

export interface SoakPoolOptions {
  /** 0: in this process, no time limit. */
  jobs: number
  /** Per seed (both runs), in worker mode. */
  timeoutMs: number
  /** Called as each seed finishes (in completion order). */
  onRow?: (row: SoakRow) => void
}

const WORKER_URL = new URL('./worker.ts', import.meta.url)

type Outcome = { row: SoakRow } | { reason: string, dead: true }

function runIn (worker: Worker, seed: number, base: SoakBase, timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>(resolve => {
    const done = (o: Outcome): void => {
      clearTimeout(timer)
      worker.off('message', onMessage); worker.off('error', onError); worker.off('exit', onExit)
      resolve(o)
    }
    const onMessage = (m: { seed: number, row: SoakRow }): void => { if (m.seed === seed) done({ row: m.row }) }
    const onError = (err: Error): void => { done({ reason: `worker error: ${err.name}: ${err.message.split('\n')[0]}`, dead: true }) }
    const onExit = (code: number): void => { done({ reason: `worker exited with code ${code}`, dead: true }) }
    const timer = setTimeout(() => { done({ reason: `timeout: no result within ${(timeoutMs / 1000).toFixed(0)} s (hung?)`, dead: true }) }, timeoutMs)
    worker.on('message', onMessage); worker.on('error', onError); worker.on('exit', onExit)
    worker.postMessage({ seed, base })
  })
}

export async function runSeeds (seeds: readonly number[], base: SoakBase, opts: SoakPoolOptions): Promise<SoakRow[]> {
  const rows = new Map<number, SoakRow>()
  const finish = (row: SoakRow): void => { rows.set(row.seed, row); opts.onRow?.(row) }
  const queue = [...seeds]
  if (opts.jobs <= 0) {
    for (const seed of queue) finish(await runSoakSeed(seed, base))
  } else {
    const lane = async (): Promise<void> => {
      let worker: Worker | null = null
      try {
        for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
          worker ??= new Worker(WORKER_URL, { execArgv: [] })
          const t0 = performance.now()
          const o = await runIn(worker, seed, base, opts.timeoutMs)
          if ('row' in o) { finish(o.row); continue }
          finish(failedRow(seed, base, o.reason, (performance.now() - t0) / 1000))
          await worker.terminate()
          worker = null
        }
      } finally {
        await worker?.terminate()
      }
    }
    await Promise.all(Array.from({ length: Math.min(opts.jobs, seeds.length) }, lane))
  }
  return seeds.map(s => rows.get(s) as SoakRow)
}
