/**
 * The two GEMM figures of `codenet bench gemm` (testnet/bench/gemm.ts) measured outside this
 * thread: numpy matmul in one long-lived single-threaded python3 process (the OpenBLAS
 * baseline), and the WASM kernel on two worker threads sharing their operands.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface, type Interface } from 'node:readline'
import { Worker } from 'node:worker_threads'
import type { Matrix } from '../../codes/matrix.ts'

const NUMPY_SCRIPT = `
import sys, json, time
try:
    import numpy as np
except Exception as e:
    print(json.dumps({"error": "import numpy failed: " + str(e)}), flush=True)
    sys.exit(0)
blas = ""
try:
    cfg = np.show_config(mode="dicts")
    b = cfg.get("Build Dependencies", {}).get("blas", {})
    blas = (b.get("name", "") + " " + b.get("version", "")).strip()
except Exception:
    pass
# The OpenBLAS kernel chosen at run time (OPENBLAS_CORETYPE overrides the CPU's own).
kernel = ""
try:
    from threadpoolctl import threadpool_info
    for info in threadpool_info():
        if info.get("internal_api") == "openblas":
            kernel = info.get("architecture") or ""
            break
except Exception:
    pass
if not kernel:
    try:
        import ctypes
        path = None
        with open("/proc/self/maps") as maps:
            for line in maps:
                if "openblas" in line.lower() and "/" in line:
                    path = line[line.index("/"):].strip()
                    break
        if path:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_", "openblas_get_corename"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    kernel = (fn() or b"").decode()
                    break
    except Exception:
        pass
print(json.dumps({"ready": True, "version": np.__version__, "blas": blas, "kernel": kernel or "unknown"}), flush=True)
rng = np.random.default_rng(1)
cache = {}
for line in sys.stdin:
    m, k, n, target = line.split()
    m, k, n, target = int(m), int(k), int(n), float(target)
    key = (m, k, n)
    if key not in cache:
        cache.clear()
        cache[key] = (rng.standard_normal((m, k)), rng.standard_normal((k, n)), np.empty((m, n)))
    a, b, c = cache[key]
    np.matmul(a, b, out=c)
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        dt = time.perf_counter() - t
        if dt >= target or reps >= 1000000:
            break
        reps = max(reps * 2, int(reps * target / max(dt, 1e-9) * 1.2) + 1)
    print(json.dumps({"seconds": dt / reps}), flush=True)
`

/** One python3 process that times numpy matmul on request, single-threaded. */
export class NumpyTimer {
  /** The environment the process ran with (BLAS thread counts forced to 1). */
  readonly env: NodeJS.ProcessEnv
  private readonly proc: ChildProcessWithoutNullStreams
  private readonly lines: Interface
  private readonly pending: Array<(line: string | undefined) => void> = []
  private readonly buffered: string[] = []
  private closed = false

  /** `env`: what python3 inherits (default this process's environment); `unset`: names removed from it. */
  constructor (opts: { env?: NodeJS.ProcessEnv, unset?: readonly string[] } = {}) {
    const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }
    for (const name of opts.unset ?? []) delete env[name]
    this.env = env
    this.proc = spawn('python3', ['-c', NUMPY_SCRIPT], {
      env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.proc.stderr.resume()
    this.proc.on('error', () => { this.close() })
    this.proc.on('exit', () => { this.close() })
    this.lines = createInterface({ input: this.proc.stdout })
    this.lines.on('line', line => {
      const waiter = this.pending.shift()
      if (waiter !== undefined) waiter(line)
      else this.buffered.push(line)
    })
  }

  private close (): void {
    this.closed = true
    for (const waiter of this.pending.splice(0)) waiter(undefined)
  }

  private async next (timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const ready = this.buffered.shift()
    const line = ready ?? (this.closed
      ? undefined
      : await new Promise<string | undefined>(resolve => {
        const timer = setTimeout(() => { resolve(undefined) }, timeoutMs)
        this.pending.push(l => { clearTimeout(timer); resolve(l) })
      }))
    if (line === undefined) return undefined
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      return undefined
    }
  }

  /** The version line, or the reason numpy cannot be used. */
  async start (): Promise<{ version: string, blas: string, kernel: string } | { skipped: string }> {
    const first = await this.next(30_000)
    if (first === undefined) return { skipped: 'python3 is not available (could not start `python3 -c`)' }
    if (typeof first.error === 'string') return { skipped: `python3 has no usable numpy (${first.error})` }
    return { version: String(first.version), blas: String(first.blas ?? ''), kernel: typeof first.kernel === 'string' && first.kernel !== '' ? first.kernel : 'unknown' }
  }

  /** Seconds per product, timed for at least minSeconds. */
  async time (m: number, k: number, n: number, minSeconds: number): Promise<number | undefined> {
    if (this.closed) return undefined
    this.proc.stdin.write(`${m} ${k} ${n} ${minSeconds}\n`)
    const reply = await this.next(600_000)
    return typeof reply?.seconds === 'number' ? reply.seconds : undefined
  }

  stop (): void {
    this.lines.close()
    if (!this.closed) this.proc.stdin.end()
    this.proc.kill()
  }
}

/**
 * Two worker threads running `gemm` on halves of C's rows. The operands live in
 * SharedArrayBuffers, so each worker views its rows of A and C without copying.
 */
export class TwoThreadGemm {
  private readonly workers: Worker[]

  constructor () {
    const gemmUrl = new URL('../../codes/gemm/index.ts', import.meta.url).href
    const source = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.gemmUrl).then(({ gemmWith }) => {
  let job;
  parentPort.on('message', (msg) => {
    if (msg.type === 'setup') {
      const { m0, m1, k, n, a, b, c } = msg;
      const rows = m1 - m0;
      job = {
        a: { rows, cols: k, data: new Float64Array(a, m0 * k * 8, rows * k) },
        b: { rows: k, cols: n, data: new Float64Array(b) },
        c: { rows, cols: n, data: new Float64Array(c, m0 * n * 8, rows * n) }
      };
      parentPort.postMessage('ok');
    } else if (msg.type === 'run') {
      for (let i = 0; i < msg.reps; i++) if (job.a.rows > 0) gemmWith('wasm', job.a, job.b, job.c);
      parentPort.postMessage('ok');
    }
  });
  parentPort.postMessage('ok');
}, (err) => { parentPort.postMessage('error: ' + err.message); });
`
    this.workers = [0, 1].map(() => new Worker(source, { eval: true, workerData: { gemmUrl } }))
    // Listen for the first 'ok' now: a message with no listener yet would be lost.
    this.started = this.all([undefined, undefined])
    this.started.catch(() => {})
  }

  private readonly started: Promise<void>

  private async all (messages: unknown[]): Promise<void> {
    await Promise.all(this.workers.map(async (w, i) => {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (reply: string): void => {
          w.off('error', onError)
          if (reply === 'ok') resolve()
          else reject(new Error(`gemm worker: ${reply}`))
        }
        const onError = (err: Error): void => { w.off('message', onMessage); reject(err) }
        w.once('message', onMessage)
        w.once('error', onError)
        if (messages[i] !== undefined) w.postMessage(messages[i])
      })
    }))
  }

  async ready (): Promise<void> { await this.started }

  async setup (a: Matrix, b: Matrix): Promise<void> {
    const m = a.rows; const k = a.cols; const n = b.cols
    const share = (x: Float64Array): SharedArrayBuffer => {
      const sab = new SharedArrayBuffer(Math.max(8, x.byteLength))
      new Float64Array(sab).set(x)
      return sab
    }
    const sa = share(a.data); const sb = share(b.data); const sc = new SharedArrayBuffer(Math.max(8, m * n * 8))
    // Split on a multiple of 6 rows (the kernel's tile height) so neither half gets an extra edge tile.
    const half = Math.min(m, Math.ceil(m / 12) * 6)
    await this.all([
      { type: 'setup', m0: 0, m1: half, k, n, a: sa, b: sb, c: sc },
      { type: 'setup', m0: half, m1: m, k, n, a: sa, b: sb, c: sc }
    ])
  }

  async run (reps: number): Promise<void> {
    await this.all([{ type: 'run', reps }, { type: 'run', reps }])
  }

  async stop (): Promise<void> {
    await Promise.all(this.workers.map(async w => await w.terminate()))
  }
}
