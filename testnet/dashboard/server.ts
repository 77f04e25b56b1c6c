/**
 * The live dashboard's HTTP server, on 127.0.0.1 only (node:http):
 *
 *   GET /           the page (page.ts)
 *   GET /snapshot   the current snapshot as JSON
 *   GET /events     server-sent events: a snapshot every `intervalMs` and whenever `push()` is
 *                   called; each message is one JSON snapshot
 *
 * The server knows nothing of where snapshots come from: the testnet launcher and a single
 * `codenet peer --dashboard PORT` each give it a `snapshot()` function.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DASHBOARD_HTML } from './page.ts'
import type { MonitorView, PeerRow } from '../snapshot.ts'

export interface DashboardSnapshot {
  phase: string
  peers: PeerRow[]
  view: MonitorView
  summary?: unknown
}

export interface DashboardOptions {
  snapshot: () => DashboardSnapshot
  /** 0: any free port. */
  port?: number
  host?: string
  intervalMs?: number
}

export interface Dashboard {
  url: string
  port: number
  /** Send the current snapshot to every subscriber now. */
  push: () => void
  close: () => Promise<void>
}

export class DashboardError extends Error {
  override name = 'DashboardError'
}

export async function startDashboard (opts: DashboardOptions): Promise<Dashboard> {
  const clients = new Set<ServerResponse>()
  const json = (): string => {
    try { return JSON.stringify(opts.snapshot()) } catch (err) { return JSON.stringify({ phase: 'error', error: (err as Error).message, peers: [], view: null }) }
  }
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET' }).end(); return }
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" })
      res.end(DASHBOARD_HTML)
    } else if (path === '/snapshot') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(json())
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
      res.write(`retry: 1000\ndata: ${json()}\n\n`)
      clients.add(res)
      req.on('close', () => { clients.delete(res) })
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  }
  const server = createServer(handler)
  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => { reject(new DashboardError(`dashboard cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`)) })
    server.listen(opts.port ?? 0, host, () => { resolve() })
  })
  const port = (server.address() as AddressInfo).port
  const push = (): void => {
    if (clients.size === 0) return
    const msg = `data: ${json()}\n\n`
    for (const c of clients) c.write(msg)
  }
  const timer = setInterval(push, opts.intervalMs ?? 1000)
  return {
    url: `http://${host}:${port}/`,
    port,
    push,
    async close () {
      clearInterval(timer)
      for (const c of clients) c.end()
      clients.clear()
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
