/** Test aid: run `codenet ARGV…` in this process and capture what it prints. */
import { PassThrough } from 'node:stream'
import { main } from './cli.ts'

export async function runCli (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  const stdout = new PassThrough(); const stderr = new PassThrough()
  let out = ''; let err = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await main(argv, { stdout, stderr })
  return { code, out, err }
}
