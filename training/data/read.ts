/**
 * Reading a data file in chunks: the bytes pass once through the parser and the sha256, so a
 * file of any size costs one chunk of memory beyond what the parser keeps. Synchronous on
 * purpose: the job config (model widths, hashes) is built from the data before anything runs,
 * and the callers that need the data (`datasetForConfig`) are synchronous.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { DatasetError } from '../dataset.ts'

export const CHUNK_BYTES = 1 << 20

/** Called as the bytes of `file` are read (and once more at the end, done = total). */
export type DataProgress = (file: string, done: number, total: number) => void

export interface ReadResult {
  sha256: string
  bytes: number
}

/** Feeds the file's bytes to `onChunk` (the buffer is reused: copy what you keep) and hashes them. */
export function readChunks (path: string, onChunk: (chunk: Uint8Array, offset: number) => void, progress?: DataProgress): ReadResult {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    throw new DatasetError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(CHUNK_BYTES)
  let offset = 0
  try {
    const total = fstatSync(fd).size
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, null)
      if (n === 0) break
      const chunk = buf.subarray(0, n)
      hash.update(chunk)
      onChunk(chunk, offset)
      offset += n
      progress?.(path, offset, Math.max(total, offset))
    }
    progress?.(path, offset, offset)
  } finally {
    closeSync(fd)
  }
  return { sha256: hash.digest('hex'), bytes: offset }
}

/** gzip's magic bytes 1f 8b. */
export function isGzip (head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
}
