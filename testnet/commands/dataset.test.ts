/**
 * Your own data on the CLI: csv:/idx: datasets train exactly like the built-in MNIST, every
 * malformed file is one line with the place and exit 2, a peer with a differing copy refuses,
 * and `codenet evaluate` measures JSON and safetensors weights alike.
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { runCli } from '../testing.ts'
import { loadMnist } from '../../training/mnist.ts'
import type { Split } from '../../training/dataset.ts'
import { createHash } from 'node:crypto'
import { datasetForConfig } from '../../training/simulate.ts'
import { createJobSpec, parseJobSpec } from '../../protocols/job.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-dataset-'))
let n = 0
const file = (content: string | Uint8Array, name = `f${n++}.csv`): string => { const p = join(dir, name); writeFileSync(p, content); return p }

/** The shortest decimal that parses back to the same float32 (MNIST's pixels are 3-digit decimals). */
function f32 (v: number): string {
  for (let p = 1; p <= 9; p++) { const s = String(Number(v.toPrecision(p))); if (Math.fround(Number(s)) === v) return s }
  throw new Error(`no decimal for ${v}`)
}

function csvOf (s: Split, header: boolean): string {
  const lines = header ? [[...Array.from({ length: 784 }, (_, i) => `p${i}`), 'label'].join(',')] : []
  for (let i = 0; i < s.count; i++) {
    const row: string[] = []
    for (let j = 0; j < 784; j++) row.push(f32(s.x[i * 784 + j]))
    row.push(String(s.y[i]))
    lines.push(row.join(','))
  }
  return `${lines.join('\n')}\n`
}

/** IDX: float32 images (exactly MNIST's stored values) and ubyte labels. */
function idxImages (s: Split): Uint8Array {
  const out = new Uint8Array(16 + 4 * s.count * 784)
  const v = new DataView(out.buffer)
  out[2] = 0x0d; out[3] = 3
  v.setUint32(4, s.count); v.setUint32(8, 28); v.setUint32(12, 28)
  for (let i = 0; i < s.count * 784; i++) v.setFloat32(16 + 4 * i, s.x[i])
  return out
}
function idxLabels (y: ArrayLike<number>, count = y.length): Uint8Array {
  const out = new Uint8Array(8 + count)
  out[2] = 0x08; out[3] = 1
  new DataView(out.buffer).setUint32(4, count)
  for (let i = 0; i < Math.min(count, y.length); i++) out[8 + i] = y[i]
  return out
}

const short = ['--peers', '4', '--steps', '30', '--batch', '8', '--checkpoint-every', '10', '--seed', '3']

describe('training on your own files', () => {
  it('trains the MNIST digits from CSV and from gzipped IDX to the very weights of --dataset mnist', async () => {
    const m = loadMnist()
    const testPart: Split = { count: 300, x: m.test.x.subarray(0, 300 * 784), y: m.test.y.subarray(0, 300) }
    const trainCsv = file(csvOf(m.train, true), 'train.csv')
    const testCsv = file(csvOf(testPart, false), 'test.csv')
    const trainImages = file(gzipSync(idxImages(m.train), { level: 1 }), 'train-images-idx3-float.gz')
    const trainLabels = file(gzipSync(idxLabels(m.train.y)), 'train-labels-idx1-ubyte.gz')
    const testImages = file(idxImages(testPart), 'test-images-idx3-float')
    const testLabels = file(idxLabels(testPart.y), 'test-labels-idx1-ubyte')
    const out = (name: string): string => join(dir, name)
    const ref = await runCli(['simulate', '--dataset', 'mnist', '--model', '784-16-10', ...short, '--quiet', '--export-weights', out('mnist.json')])
    expect(ref.code).toBe(0)
    const csv = await runCli(['simulate', '--dataset', `csv:${trainCsv}`, '--test', testCsv, '--label-column', 'label', '--hidden', '16', ...short, '--export-weights', out('csv.json'), '--json', out('csv-summary.json')])
    expect(csv.code).toBe(0)
    // The 17 MB file is read with a progress line per quarter (stderr is no terminal here).
    expect(csv.err).toContain(`reading ${trainCsv} [########################] 100% `)
    const idx = await runCli(['simulate', '--dataset', `idx:${trainImages},${trainLabels}`, '--test', `${testImages},${testLabels}`, '--hidden', '16', ...short, '--quiet', '--export-weights', out('idx.json')])
    expect(idx.code).toBe(0)
    const weights = (name: string): number[] => (JSON.parse(readFileSync(out(name), 'utf8')) as { layers: Array<{ weights: number[], bias: number[] }> }).layers.flatMap(l => [...l.weights, ...l.bias])
    const want = weights('mnist.json')
    expect(want).toHaveLength(784 * 16 + 16 + 16 * 10 + 10)
    for (const name of ['csv.json', 'idx.json']) {
      const got = weights(name)
      expect(got).toHaveLength(want.length)
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThanOrEqual(1e-9)
    }
    const s = JSON.parse(readFileSync(out('csv-summary.json'), 'utf8'))
    expect(s.dataset).toBe(`csv:${trainCsv}`)
    expect(s.model).toEqual([784, 16, 10])
  })
})

describe('malformed data: one line with the place, exit 2', () => {
  const idxHeader = (type: number, dims: number[]): number[] => [0, 0, type, dims.length, ...dims.flatMap(d => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255])]
  const images = file(Uint8Array.from([...idxHeader(0x08, [3, 2, 2]), ...Array.from({ length: 12 }, (_, i) => i)]), 'ok-images.idx')
  const labels3 = file(Uint8Array.from([...idxHeader(0x08, [3]), 0, 1, 2]), 'ok-labels.idx')

  const cases: Array<[string, string | Uint8Array, (f: string) => string, string?]> = [
    ['a ragged row', 'a,b,label\n1,2,0\n3,0\n', f => `${f}:3: 2 cells, expected 3 like line 1`],
    ['a non-numeric cell', 'a,b,label\n1,2,0\n3,x,1\n', f => `${f}:3: column 2 ('b'): 'x' is not a number`],
    ['an empty feature cell', '1,2,0\n,4,1\n', f => `${f}:2: column 1 is empty`],
    ['NaN', '1,2,0\n3,NaN,1\n', f => `${f}:2: column 2: 'NaN' is not a finite number`],
    ['Infinity', '1,-Infinity,0\n', f => `${f}:1: column 2: '-Infinity' is not a finite number`],
    ['a value beyond float32', '1,2,0\n1e39,2,1\n', f => `${f}:2: column 1: '1e39' does not fit a 32-bit float`],
    ['a missing label', '1,2,0\n3,4,\n', f => `${f}:2: missing label (column 3 is empty)`],
    ['a label out of range', '1,2,0\n3,4,300\n', f => `${f}:2: label 300 is out of range: labels are integers 0..255 (or class names)`],
    ['a negative label', '1,2,-1\n', f => `${f}:1: label -1 is out of range: labels are integers 0..255 (or class names)`],
    ['a fractional label', '1,2,0\n3,4,1.5\n', f => `${f}:2: label 1.5 is not a whole number (labels are integers 0..K-1 or class names)`],
    ['numbers and names mixed', '1,2,cat\n3,4,1\n', f => `${f}:2: label 1 is a number, but the labels before it are class names (labels are all integers 0..K-1 or all class names)`],
    ['an empty file', '', f => `${f}: the file is empty`],
    ['a header and no rows', 'a,b,label\n', f => `${f}: no data rows`],
    ['one class only', '1,2,0\n3,4,0\n', f => `${f}: every row has the same class (label 0): a classifier needs at least two`],
    ['an unknown --label-column', 'a,b,label\n1,2,0\n', f => `${f}: --label-column 'y' is not a column of the header line (a, b, label)`, 'y']
  ]
  for (const [what, content, message, labelColumn] of cases) {
    it(`CSV: ${what}`, async () => {
      const f = file(content)
      const r = await runCli(['simulate', '--dataset', `csv:${f}`, ...(labelColumn !== undefined ? ['--label-column', labelColumn] : []), '--steps', '1', '--quiet'])
      expect(r.err).toBe(`codenet simulate: ${message(f)}\n`)
      expect(r.code).toBe(2)
    })
  }

  const idxCases: Array<[string, () => [string, string], (im: string, lb: string) => string]> = [
    ['a wrong magic', () => [file(Uint8Array.from([1, 2, 3, 4, 0, 0, 0, 0]), 'bad-magic.idx'), labels3], im => `${im}: not an IDX file: bytes 0-3 are 01 02 03 04, expected 00 00, a type (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double) and a number of dimensions`],
    ['counts that do not match the data', () => [file(Uint8Array.from([...idxHeader(0x08, [3, 2, 2]), ...new Array(10).fill(0)]), 'short.idx'), labels3], im => `${im}: the header says 3 × 2 × 2 ubyte values, 12 bytes after byte 16, but the file ends at byte 26`],
    ['counts that do not match, gzipped', () => [file(gzipSync(Uint8Array.from([...idxHeader(0x08, [3, 2, 2]), ...new Array(13).fill(0)])), 'long.idx.gz'), labels3], im => `${im}: the header says 3 × 2 × 2 ubyte values, 12 bytes after byte 16, but the decompressed data has 1 bytes more`],
    ['images and labels of different lengths', () => [images, file(Uint8Array.from([...idxHeader(0x08, [2]), 0, 1]), 'two-labels.idx')], (im, lb) => `${im} has 3 images but ${lb} has 2 labels`],
    ['a labels file with two dimensions', () => [images, file(Uint8Array.from([...idxHeader(0x08, [3, 1]), 0, 1, 2]), 'labels-2d.idx')], (_im, lb) => `${lb}: a labels file has one dimension, this one has 2 (3 × 1)`],
    ['NaN in float images', () => {
      const b = Buffer.from([...idxHeader(0x0d, [1, 2]), ...new Array(8).fill(0)]); b.writeFloatBE(NaN, 12 + 4) // the second value (header: 4 + 2·4 bytes)
      return [file(b, 'nan.idx'), file(Uint8Array.from([...idxHeader(0x08, [1]), 0]), 'one-label.idx')]
    }, im => `${im}: value NaN at byte offset 16 is not a finite number`],
    ['an empty images file', () => [file('', 'empty.idx'), labels3], im => `${im}: the file is empty`]
  ]
  for (const [what, make, message] of idxCases) {
    it(`IDX: ${what}`, async () => {
      const [im, lb] = make()
      const r = await runCli(['simulate', '--dataset', `idx:${im},${lb}`, '--steps', '1', '--quiet'])
      expect(r.err).toBe(`codenet simulate: ${message(im, lb)}\n`)
      expect(r.code).toBe(2)
    })
  }

  it('job init pins the file; a peer whose copy differs refuses on start, naming the file', async () => {
    const data = file('1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,0\n8,8,1\n')
    const init = await runCli(['job', 'init', '--dataset', `csv:${data}`, '--hidden', '4', '--peers', '4', '--steps', '2', '--batch', '2', '--open'])
    expect(init.code).toBe(0)
    const spec = JSON.parse(init.out) as ReturnType<typeof createJobSpec>
    expect(spec.config.model).toEqual([2, 4, 2])
    expect(spec.config.data).toEqual({ sha256: { [data]: createHash('sha256').update(readFileSync(data)).digest('hex') }, test: null, testSplit: 0.2, labelColumn: null, normalize: null })
    const job = file(init.out, 'job.json')
    // The same copy passes the check (the peer then goes on to start; here only the data step runs).
    expect(datasetForConfig(parseJobSpec(init.out).config).train.count).toBe(4)
    writeFileSync(data, '1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,0\n8,8,0\n') // another copy
    const r = await runCli(['peer', '--job', job, '--data-dir', join(dir, 'peer'), '--quiet'])
    expect(r.err).toMatch(new RegExp(`^codenet peer: ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: this copy differs from the job's \\(sha256 [0-9a-f]{16}…, the job's ${spec.config.data?.sha256[data].slice(0, 16)}…\\); every peer needs the same file: copy it from the machine that wrote the job\n$`))
    expect(r.code).toBe(2)
  })
})

describe('codenet evaluate', () => {
  it('prints accuracy and the confusion matrix of JSON and safetensors weights alike (and --json)', async () => {
    // Two separable classes with names, 40 rows; the model learns them in a few dozen steps.
    const rows = ['x,y,kind']
    for (let i = 0; i < 40; i++) rows.push(`${(i % 2 === 0 ? 1 : -1) + 0.01 * i},${(i % 2 === 0 ? -1 : 1)},${i % 2 === 0 ? 'east' : 'west'}`)
    const data = file(`${rows.join('\n')}\n`)
    const flags = ['--dataset', `csv:${data}`, '--test-split', '0.25', '--normalize', 'standard']
    const json = join(dir, 'eval.json'); const st = join(dir, 'eval.safetensors')
    for (const w of [json, st]) {
      const r = await runCli(['simulate', ...flags, '--hidden', '4', '--peers', '4', '--batch', '4', '--steps', '40', '--quiet', '--export-weights', w])
      expect(r.code).toBe(0)
    }
    expect(readFileSync(st).subarray(8, 9).toString()).toBe('{')
    const a = await runCli(['evaluate', '--weights', json, ...flags, '--json'])
    const b = await runCli(['evaluate', '--weights', st, ...flags, '--json'])
    expect(a.code).toBe(0)
    const ja = JSON.parse(a.out)
    expect(JSON.parse(b.out)).toEqual({ ...ja, weights: st })
    expect(ja).toMatchObject({ model: '2-4-2', activation: 'relu', dataset: `csv:${data}`, samples: 10, classes: ['east', 'west'] })
    expect(ja.confusion.flat().reduce((s: number, v: number) => s + v, 0)).toBe(10)
    expect(ja.accuracy).toBe((ja.confusion[0][0] + ja.confusion[1][1]) / 10)
    const text = await runCli(['evaluate', '--weights', st, ...flags])
    expect(text.out).toContain(`weights ${st} (2-4-2, relu) on the test split of csv:${data}: 10 samples\naccuracy ${(100 * ja.accuracy).toFixed(2)} %`)
    expect(text.out).toContain('confusion matrix (rows: true class, columns: predicted class)')
    expect(text.out).toContain('classes: 0 = east, 1 = west')
    // simulate --evaluate-weights stays, and takes safetensors too.
    const alias = await runCli(['simulate', '--evaluate-weights', st, ...flags])
    expect(alias.code).toBe(0)
    expect(JSON.parse(alias.out).testAccuracy).toBe(ja.accuracy)
    // Weights that do not fit the data: one line, exit 2.
    const mnist = await runCli(['evaluate', '--weights', st])
    expect(mnist.err).toBe(`codenet evaluate: ${st} takes 2 inputs and gives 2 outputs; mnist has 784 features and 10 classes\nRun 'codenet evaluate --help' for usage.\n`)
    expect(mnist.code).toBe(2)
    const none = await runCli(['evaluate', '--weights', join(dir, 'missing.safetensors')])
    expect(none.code).toBe(1)
  })
})
