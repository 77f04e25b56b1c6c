/**
 * A `Dataset` from files (`csv:PATH`, `idx:IMAGES,LABELS`): read (csv.ts, idx.ts), labels made
 * classes, a held-out test set (`--test` file, or `--test-split F`), optional per-feature
 * normalisation from the training split only, and each file's sha256.
 *
 * - Classes: integer labels are their own class (classes = the largest label + 1, over the
 *   training and test files); CSV class names are numbered in sorted order (JavaScript's
 *   default string order: by UTF-16 code unit), and a test file may only use names the
 *   training file has.
 * - `--test-split F`: of each class's rows, in file order, the last ⌈F·L_c⌉ are held out (the
 *   MNIST split's rule, docs/design.md §Data); the order of the rows is otherwise kept.
 * - `--normalize standard`: x ← (x − mean) / std per feature (population std; a constant
 *   feature is only centred); `minmax`: x ← (x − min) / (max − min) (a constant feature
 *   becomes 0). Statistics from the training split, applied to both splits.
 * - Memory: the features as float32 (a CSV's grown by doubling: at most twice that), the
 *   held-out rows copied out, the training rows compacted in place.
 *
 * A loaded dataset is kept (a few per process, checked against the files' size and mtime), so
 * the config step that infers the model from the data and the run that trains on it read the
 * files once.
 */
import { statSync } from 'node:fs'
import { DatasetError, type Dataset, type Split } from '../dataset.ts'
import { readCsv, type CsvTable } from './csv.ts'
import { readIdxPair } from './idx.ts'
import { readChunks, type DataProgress } from './read.ts'
import { DEFAULT_TEST_SPLIT, parseDataSource, sourcePaths, type Normalize } from './spec.ts'

export interface FileDataRequest {
  /** `csv:PATH` or `idx:IMAGES,LABELS`. */
  dataset: string
  /** A held-out file in the same format, or null. */
  test: string | null
  /** Fraction of each class held out when there is no test file. */
  testSplit: number | null
  /** CSV: header name or column number from 1; null: the last column. */
  labelColumn: string | null
  normalize: Normalize | null
}

export interface LoadOptions {
  /** The job's sha256 per path: a copy that hashes differently is refused, naming the file. */
  sha256?: Readonly<Record<string, string>>
  progress?: DataProgress
}

export interface LoadedData {
  dataset: Dataset
  /** sha256 (hex) of each file's bytes, keyed by path as given. */
  sha256: Record<string, string>
}

/** Rows read from one file (or file pair): features and class indices. */
interface Rows {
  file: string
  rows: number
  features: number
  x: Float32Array
  y: ArrayLike<number>
}

interface CacheEntry { key: string, stamps: string, loaded: LoadedData }
const CACHE_SIZE = 3
const cache: CacheEntry[] = []

function stampsOf (paths: readonly string[]): string {
  return paths.map(p => { try { const s = statSync(p); return `${p}:${s.size}:${s.mtimeMs}` } catch { return `${p}:?` } }).join('|')
}

function requestPaths (req: FileDataRequest): string[] {
  const train = parseDataSource(req.dataset)
  const paths = sourcePaths(train)
  if (req.test !== null) paths.push(...sourcePaths(parseDataSource(req.test, train.format, '--test')))
  return [...new Set(paths)]
}

/** Loads (or serves from memory) the dataset a request names; DatasetError for anything wrong with the files. */
export function loadFileDataset (req: FileDataRequest, opts: LoadOptions = {}): LoadedData {
  let paths: string[]
  try { paths = requestPaths(req) } catch (err) { throw new DatasetError((err as Error).message) }
  const key = JSON.stringify([req.dataset, req.test, req.testSplit, req.labelColumn, req.normalize])
  const stamps = stampsOf(paths)
  let hit = cache.find(e => e.key === key && e.stamps === stamps)
  if (hit === undefined) {
    let loaded: LoadedData
    try {
      loaded = load(req, opts.progress)
    } catch (err) {
      // A differing copy is the likelier story than a malformed file: say that first.
      if (err instanceof DatasetError && opts.sha256 !== undefined) for (const p of paths) checkHash(p, hashFile(p), opts.sha256[p])
      throw err
    }
    hit = { key, stamps, loaded }
    cache.unshift(hit)
    cache.length = Math.min(cache.length, CACHE_SIZE)
  }
  if (opts.sha256 !== undefined) for (const p of paths) checkHash(p, hit.loaded.sha256[p], opts.sha256[p])
  return hit.loaded
}

function hashFile (path: string): string {
  try { return readChunks(path, () => {}).sha256 } catch { return '' }
}

function checkHash (path: string, actual: string | undefined, expected: string | undefined): void {
  if (expected === undefined) throw new DatasetError(`${path}: the job names no sha256 for this file`)
  if (actual !== expected) {
    throw new DatasetError(`${path}: this copy differs from the job's (sha256 ${actual === undefined || actual === '' ? 'unreadable' : `${actual.slice(0, 16)}…`}, the job's ${expected.slice(0, 16)}…); every peer needs the same file: copy it from the machine that wrote the job`)
  }
}

function load (req: FileDataRequest, progress?: DataProgress): LoadedData {
  const source = parseDataSource(req.dataset)
  const testSource = req.test !== null ? parseDataSource(req.test, source.format, '--test') : null
  const sha256: Record<string, string> = {}
  let train: Rows
  let test: Rows | null = null
  let classes: number
  let classNames: string[] | undefined
  if (source.format === 'csv') {
    if (req.labelColumn !== null && req.labelColumn.trim() === '') throw new DatasetError('--label-column is empty')
    const a = readCsv(source.path, { labelColumn: req.labelColumn }, progress)
    sha256[a.file] = a.sha256
    let b: CsvTable | null = null
    if (testSource !== null && testSource.format === 'csv') {
      b = readCsv(testSource.path, { labelColumn: req.labelColumn, like: { file: a.file, layout: a.layout, mode: a.mode, names: a.names } }, progress)
      sha256[b.file] = b.sha256
    }
    if (a.mode === 'names') {
      classNames = [...a.names.keys()].sort()
      const order = new Int32Array(a.names.size)
      for (const [name, id] of a.names) order[id] = classNames.indexOf(name)
      for (const t of b === null ? [a] : [a, b]) for (let i = 0; i < t.rows; i++) t.labels[i] = order[t.labels[i]]
    }
    train = { file: a.file, rows: a.rows, features: a.features, x: a.x, y: a.labels }
    if (b !== null) test = { file: b.file, rows: b.rows, features: b.features, x: b.x, y: b.labels }
  } else {
    if (req.labelColumn !== null) throw new DatasetError('--label-column applies to csv: datasets (an IDX labels file is its own column)')
    const a = readIdxPair(source.images, source.labels, progress)
    sha256[a.images.file] = a.images.sha256; sha256[a.labels.file] = a.labels.sha256
    train = { file: a.images.file, rows: a.images.count, features: a.images.width, x: a.images.x, y: a.labels.labels }
    if (testSource !== null && testSource.format === 'idx') {
      const b = readIdxPair(testSource.images, testSource.labels, progress)
      sha256[b.images.file] = b.images.sha256; sha256[b.labels.file] = b.labels.sha256
      if (b.images.width !== a.images.width) throw new DatasetError(`${b.images.file} has samples of ${b.images.dims.slice(1).join(' × ')} values, ${a.images.file} of ${a.images.dims.slice(1).join(' × ')}`)
      test = { file: b.images.file, rows: b.images.count, features: b.images.width, x: b.images.x, y: b.labels.labels }
    }
  }
  if (classNames !== undefined) classes = classNames.length
  else {
    let max = 0
    for (const r of test === null ? [train] : [train, test]) for (let i = 0; i < r.rows; i++) max = Math.max(max, r.y[i])
    classes = max + 1
  }
  if (classes < 2) {
    throw new DatasetError(`${train.file}: every row has the same class (${classNames?.[0] ?? 'label 0'}): a classifier needs at least two`)
  }
  const splits = test === null ? holdOut(train, classes, req.testSplit ?? DEFAULT_TEST_SPLIT) : { train: asSplit(train), test: asSplit(test) }
  if (req.normalize !== null) normalize(splits.train, splits.test, train.features, req.normalize)
  const dataset: Dataset = { name: req.dataset, inputSize: train.features, classes, ...(classNames !== undefined ? { classNames } : {}), ...splits }
  return { dataset, sha256 }
}

function asSplit (r: Rows): Split {
  return { count: r.rows, x: r.x.subarray(0, r.rows * r.features), y: Uint8Array.from({ length: r.rows }, (_, i) => r.y[i]) }
}

/** Of each class's rows in file order the last ⌈F·L_c⌉ are held out; the training rows are compacted in place. */
export function holdOut (r: Rows, classes: number, fraction: number): { train: Split, test: Split } {
  const d = r.features
  const count = new Int32Array(classes)
  for (let i = 0; i < r.rows; i++) count[r.y[i]]++
  const keep = Int32Array.from(count, c => c - Math.ceil(fraction * c - 1e-9))
  const trainRows = keep.reduce((a, b) => a + b, 0)
  if (trainRows === 0) throw new DatasetError(`${r.file}: --test-split ${fraction} leaves no training rows (${r.rows} rows)`)
  const testRows = r.rows - trainRows
  const test: Split = { count: testRows, x: new Float32Array(testRows * d), y: new Uint8Array(testRows) }
  const trainY = new Uint8Array(trainRows)
  const seen = new Int32Array(classes)
  let t = 0; let s = 0
  for (let i = 0; i < r.rows; i++) {
    const c = r.y[i]
    if (seen[c]++ < keep[c]) {
      if (t !== i) r.x.copyWithin(t * d, i * d, (i + 1) * d)
      trainY[t++] = c
    } else {
      test.x.set(r.x.subarray(i * d, (i + 1) * d), s * d)
      test.y[s++] = c
    }
  }
  return { train: { count: trainRows, x: r.x.subarray(0, trainRows * d), y: trainY }, test }
}

/** Per-feature statistics of the training split (float64), applied to both splits in place. */
export function normalize (train: Split, test: Split, d: number, mode: Normalize): void {
  const shift = new Float64Array(d)
  const scale = new Float64Array(d).fill(1)
  if (mode === 'standard') {
    const sum = new Float64Array(d)
    for (let i = 0; i < train.count; i++) for (let j = 0; j < d; j++) sum[j] += train.x[i * d + j]
    for (let j = 0; j < d; j++) shift[j] = sum[j] / train.count
    const sq = new Float64Array(d)
    for (let i = 0; i < train.count; i++) for (let j = 0; j < d; j++) { const v = train.x[i * d + j] - shift[j]; sq[j] += v * v }
    for (let j = 0; j < d; j++) { const std = Math.sqrt(sq[j] / train.count); if (std > 0) scale[j] = std }
  } else {
    const lo = new Float64Array(d).fill(Infinity); const hi = new Float64Array(d).fill(-Infinity)
    for (let i = 0; i < train.count; i++) {
      for (let j = 0; j < d; j++) { const v = train.x[i * d + j]; if (v < lo[j]) lo[j] = v; if (v > hi[j]) hi[j] = v }
    }
    for (let j = 0; j < d; j++) { shift[j] = lo[j]; if (hi[j] > lo[j]) scale[j] = hi[j] - lo[j] }
  }
  for (const split of [train, test]) {
    for (let i = 0; i < split.count; i++) for (let j = 0; j < d; j++) split.x[i * d + j] = (split.x[i * d + j] - shift[j]) / scale[j]
  }
}
