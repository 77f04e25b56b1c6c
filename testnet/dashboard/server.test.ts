import { describe, it, expect } from 'vitest'
import { request } from 'node:http'
import { startDashboard } from './server.ts'

const get = async (url: string): Promise<{ status: number, type: string, body: string }> => await new Promise((resolve, reject) => {
  request(url, res => {
    let body = ''
    res.on('data', (c: Buffer) => {
      body += c.toString()
      // The event stream never ends: return after the first message.
      if (res.headers['content-type'] === 'text/event-stream' && body.includes('\n\n', body.indexOf('data: '))) { res.destroy(); resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }) }
    })
    res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }) })
  }).on('error', reject).end()
})

describe('dashboard server', () => {
  it('serves the page, a snapshot and an event stream on 127.0.0.1', async () => {
    let n = 0
    const d = await startDashboard({ snapshot: () => ({ phase: 'training', peers: [], view: { n: ++n } as any }), intervalMs: 50 })
    try {
      expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      const page = await get(d.url)
      expect(page.status).toBe(200)
      expect(page.body).toContain('<title>codenet testnet</title>')
      expect(page.body).not.toMatch(/(src|href)="https?:/) // self-contained
      const snap = await get(`${d.url}snapshot`)
      expect(JSON.parse(snap.body).phase).toBe('training')
      const ev = await get(`${d.url}events`)
      expect(ev.type).toBe('text/event-stream')
      expect(JSON.parse(/data: (.*)\n/.exec(ev.body)?.[1] as string).phase).toBe('training')
      expect((await get(`${d.url}nope`)).status).toBe(404)
    } finally {
      await d.close()
    }
  })
})
