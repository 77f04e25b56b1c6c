import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { loadFileDataset, type FileDataRequest } from './load.ts'
import { readIdxImages } from './idx.ts'
import { splitCsvLine } from './csv.ts'
import { dataFilesProblem } from './spec.ts'
import { trainingConfigFromFlags, trainingConfigFromJson } from '../config.ts'
import { datasetForConfig } from '../simulate.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-data-'))
let n = 0
const file = (text: string | Uint8Array, name = `f${n++}.csv`): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const req = (dataset: string, extra: Partial<FileDataRequest> = {}): FileDataRequest => ({ dataset, test: null, testSplit: 0.2, labelColumn: null, normalize: null, ...extra })

/** An IDX file: type code, dims, big-endian values. */
export function idx (type: 0x08 | 0x0d, dims: number[], values: ArrayLike<number>): Uint8Array {
  const size = type === 0x08 ? 1 : 4
  const out = new Uint8Array(4 + 4 * dims.length + size * values.length)
  const v = new DataView(out.buffer)
  out[2] = type; out[3] = dims.length
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d))
  const at = 4 + 4 * dims.length
  for (let i = 0; i < values.length; i++) type === 0x08 ? v.setUint8(at + i, values[i]) : v.setFloat32(at + 4 * i, values[i])
  return out
}

describe('CSV datasets', () => {
  it('detects the header, takes the label column by name or number, keeps file order and float32 values', () => {
    const p = file('a,label,b\n1.5,2,-3\n0.1,0,4e2\n\n7,1,8\r\n2,2,2\n3,0,3\n4,1,4\n')
    const byName = loadFileDataset(req(`csv:${p}`, { labelColumn: 'label', testSplit: 0.5 })).dataset
    const byNumber = loadFileDataset(req(`csv:${p}`, { labelColumn: '2', testSplit: 0.5 })).dataset
    for (const d of [byName, byNumber]) {
      expect(d.inputSize).toBe(2)
      expect(d.classes).toBe(3)
      expect(d.classNames).toBeUndefined()
      expect(Array.from(d.train.x)).toEqual([1.5, -3, 0.1, 400, 7, 8].map(Math.fround))
      expect(Array.from(d.train.y)).toEqual([2, 0, 1])
      expect(Array.from(d.test.y)).toEqual([2, 0, 1])
    }
    // No header: every line is data; the label is the last column.
    const bare = loadFileDataset(req(`csv:${file('1,2,1\n3,4,0\n5,6,1\n7,8,0\n')}`, { testSplit: 0.5 })).dataset
    expect(Array.from(bare.train.x)).toEqual([1, 2, 3, 4])
  })

  it('holds out the last ⌈F·L_c⌉ rows of each class in file order, and maps class names in sorted order', () => {
    const rows = ['x,y,kind']
    for (let i = 0; i < 10; i++) rows.push(`${i},${-i},${i % 2 === 0 ? 'zebra' : 'ant'}`)
    const p = file(`${rows.join('\n')}\n`)
    const d = loadFileDataset(req(`csv:${p}`, { testSplit: 0.2 })).dataset
    expect(d.classNames).toEqual(['ant', 'zebra'])
    expect(d.classes).toBe(2)
    // ant: rows 1,3,5,7,9 → 9 held out; zebra: rows 0,2,4,6,8 → 8 held out.
    expect(Array.from(d.train.x.subarray(0, 2 * d.train.count).filter((_, i) => i % 2 === 0))).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(Array.from(d.train.y)).toEqual([1, 0, 1, 0, 1, 0, 1, 0])
    expect(Array.from(d.test.x.filter((_, i) => i % 2 === 0))).toEqual([8, 9])
    expect(Array.from(d.test.y)).toEqual([1, 0])
  })

  it('reads quoted cells, and a --test file with the same columns', () => {
    expect(splitCsvLine('"a,b",1,"say ""hi"""', () => '')).toEqual(['a,b', '1', 'say "hi"'])
    const train = file('"f 1","f,2",cls\n1,2,"b"\n3,4,a\n5,6,b\n')
    const test = file('7,8,a\n')
    const d = loadFileDataset(req(`csv:${train}`, { test, testSplit: null })).dataset
    expect(d.train.count).toBe(3)
    expect(Array.from(d.train.y)).toEqual([1, 0, 1])
    expect(Array.from(d.test.x)).toEqual([7, 8])
    expect(Array.from(d.test.y)).toEqual([0])
  })

  it('standardises (or min-max scales) each feature with the training split\'s statistics only', () => {
    const train = file('1,10,0\n3,10,1\n')
    const test = file('5,20,1\n')
    const s = loadFileDataset(req(`csv:${train}`, { test, testSplit: null, normalize: 'standard' })).dataset
    expect(Array.from(s.train.x)).toEqual([-1, 0, 1, 0])
    expect(Array.from(s.test.x)).toEqual([3, 10]) // (5 − 2)/1; the constant feature is only centred
    const m = loadFileDataset(req(`csv:${train}`, { test, testSplit: null, normalize: 'minmax' })).dataset
    expect(Array.from(m.train.x)).toEqual([0, 0, 1, 0])
    expect(Array.from(m.test.x)).toEqual([2, 10])
  })

  it('hashes each file, serves a second load from memory, and refuses a copy whose sha256 differs', () => {
    const text = '1,2,0\n3,4,1\n5,6,0\n7,8,1\n'
    const p = file(text)
    const sha = createHash('sha256').update(text).digest('hex')
    const a = loadFileDataset(req(`csv:${p}`))
    expect(a.sha256).toEqual({ [p]: sha })
    expect(loadFileDataset(req(`csv:${p}`), { sha256: { [p]: sha } })).toBe(a)
    expect(() => loadFileDataset(req(`csv:${p}`), { sha256: { [p]: 'f'.repeat(64) } }))
      .toThrow(`${p}: this copy differs from the job's (sha256 ${sha.slice(0, 16)}…, the job's ffffffffffffffff…); every peer needs the same file: copy it from the machine that wrote the job`)
  })

  it('grows its buffers by doubling past the first 1,024 rows', () => {
    const rows = Array.from({ length: 3000 }, (_, i) => `${i},${i % 3}`)
    const d = loadFileDataset(req(`csv:${file(`${rows.join('\n')}\n`)}`, { testSplit: 0.1 })).dataset
    expect(d.train.count + d.test.count).toBe(3000)
    expect(d.train.count).toBe(2700)
    expect(d.train.x[2699]).toBe(2699) // each class keeps its first 900 rows: rows 0..2699
  })
})

describe('IDX datasets', () => {
  it('reads ubyte images as value/255 and float images as they are, gzipped or not', () => {
    const images = file(gzipSync(idx(0x08, [3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8])), 'im.gz')
    const labels = file(idx(0x08, [3], [0, 1, 2]), 'lb.idx')
    const d = loadFileDataset(req(`idx:${images},${labels}`, { test: `${images},${labels}`, testSplit: null })).dataset
    expect(d.inputSize).toBe(4)
    expect(d.classes).toBe(3)
    expect(d.train.count).toBe(3)
    expect(Array.from(d.train.y)).toEqual([0, 1, 2])
    expect(Array.from(d.test.x.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround))
    const floats = file(idx(0x0d, [1, 3], [0.1, -2, 1e30]), 'fl.idx')
    expect(Array.from(readIdxImages(floats).x)).toEqual([0.1, -2, 1e30].map(Math.fround))
  })
})

describe('config and job files with file datasets', () => {
  it('infers the model from the data, takes --hidden, and checks --model against it', () => {
    const p = file('a,b,c,label\n1,2,3,0\n4,5,6,2\n7,8,9,1\n1,1,1,0\n')
    const c = trainingConfigFromFlags({ dataset: `csv:${p}`, hidden: '5-4', steps: '2', batch: '1', peers: '1', strategy: 'uncoded' })
    expect(c.model).toEqual([3, 5, 4, 3])
    expect(c.data).toEqual({ sha256: { [p]: expect.stringMatching(/^[0-9a-f]{64}$/) }, test: null, testSplit: 0.2, labelColumn: null, normalize: null })
    expect(trainingConfigFromFlags({ dataset: `csv:${p}`, steps: '2', batch: '1', peers: '1', strategy: 'uncoded' }).model).toEqual([3, 256, 128, 3])
    expect(() => trainingConfigFromFlags({ dataset: `csv:${p}`, model: '3-8-10', steps: '2', batch: '1', peers: '1', strategy: 'uncoded' }))
      .toThrow(`--model 3-8-10: csv:${p} has 3 features and 3 classes, so the model is 3-…-3 (or give the hidden widths alone with --hidden)`)
    expect(() => trainingConfigFromFlags({ dataset: 'mnist', model: '784-32-10', hidden: '64' }))
      .toThrow('--model 784-32-10 and --hidden 64 disagree: the model\'s hidden widths are 32')
    expect(trainingConfigFromFlags({ dataset: 'mnist', hidden: '32' }).model).toEqual([784, 32, 10])
    expect(() => trainingConfigFromFlags({ dataset: 'mnist', normalize: 'standard' })).toThrow('--normalize applies to csv: and idx: datasets, not --dataset mnist')
    expect(() => trainingConfigFromFlags({ dataset: `csv:${p}`, 'test-split': '1' })).toThrow("--test-split must be a fraction between 0 and 1 (both excluded), got '1'")
    // A job file round-trips, and the loader checks the files against it.
    const back = trainingConfigFromJson(JSON.parse(JSON.stringify(c)))
    expect(back).toEqual(c)
    expect(datasetForConfig(back).inputSize).toBe(3)
  })

  it('keeps mnist and synthetic configs free of data (old job files load unchanged)', () => {
    const old = trainingConfigFromFlags({ dataset: 'synthetic', model: '8-4', steps: '5', peers: '4' })
    expect('data' in old).toBe(false)
    expect(trainingConfigFromJson(JSON.parse(JSON.stringify(old)))).toEqual(old)
    expect(dataFilesProblem('mnist', { sha256: {} })).toBe('--dataset mnist reads no files, but the config has data files')
    expect(dataFilesProblem('csv:a.csv', undefined)).toBe("--dataset csv:a.csv: the config lacks 'data' (the files' sha256; make it with codenet job init)")
    expect(dataFilesProblem('csv:a.csv', { sha256: { 'b.csv': 'a'.repeat(64) }, test: null, testSplit: 0.2, labelColumn: null, normalize: null }))
      .toBe('data.sha256 must hash exactly the files a.csv (it hashes b.csv)')
  })
})
