/** A soak worker thread: runs the seeds it is sent, one at a time (testnet/soak/pool.ts). */
import { parentPort } from 'node:worker_threads'
import { runSoakSeed } from './run.ts'
import type { SoakBase } from './nemesis.ts'

const port = parentPort
if (port === null) throw new Error('testnet/soak/worker.ts runs as a worker thread')
port.on('message', (m: { seed: number, base: SoakBase }) => {
  void runSoakSeed(m.seed, m.base).then(row => { port.postMessage({ seed: m.seed, row }) })
})
