/**
 * V8 settings for a process that runs peers (a `codenet` command, a bench's worker).
 *
 * A step allocates tens of MB of typed arrays (results in and out, frames, the layers' maths)
 * that die within a step or two. By default V8 starts a full mark-compact every time its
 * "external" (ArrayBuffer) memory grows 64 MB past the last one: every second step on a peer;
 * on two cores the concurrent marking of six peers took about 40 % of all CPU (perf, counting
 * V8's worker threads, which `--cpu-prof` does not see). Counting that memory in the heap's
 * global limit instead leaves it to the cheap young-generation collections and the heap's own
 * growth policy: a testnet's CPU per step fell by more than half (docs/performance.md, "Where
 * the CPU really went"). The price is memory, dead buffers waiting longer: capping the heap's
 * growth at 2× per collection (V8 picks up to 4× when collections are cheap) keeps the same CPU
 * with a quarter less of it (six peers of the default job: 3.3 GB at most, against 4.3 GB with
 * the first flag alone and 2.6 GB with neither).
 *
 * The flag exists from V8 13 (Node 24); older V8s would print an error for it, so they keep
 * their default.
 */
import { setFlagsFromString } from 'node:v8'

export const V8_FLAGS = ['--external-memory-accounted-in-global-limit', '--heap-growing-percent=100'] as const

/** Whether this V8 knows V8_FLAGS. */
export const v8TuningAvailable = (): boolean => Number(process.versions.v8.split('.')[0]) >= 13

/** Applies V8_FLAGS to this process (before it allocates much). */
export function tuneV8 (): void {
  if (!v8TuningAvailable()) return
  for (const f of V8_FLAGS) setFlagsFromString(f)
}
