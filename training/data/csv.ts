/**
 * A CSV file of numeric features and one label column, read in chunks (training/data/read.ts).
 *
 * - Cells are separated by commas; a cell may be double-quoted ("a,b", "" for a quote); blank
 *   lines are skipped; CRLF is fine. Lines and columns are counted from 1 in every message.
 * - The label column is `--label-column NAME|N` (a header name, or a column number from 1) or
 *   the last one. The first line is a header when one of its feature cells is not a number
 *   (or when --label-column names it).
 * - Features must be finite decimal numbers that fit a 32-bit float (they are stored as one).
 * - Labels are either all integers 0..255 (class = the integer; classes = the largest + 1) or
 *   all class names (mapped to 0..K−1 in sorted order by the caller: training/data/load.ts).
 *
 * Any violation is a DatasetError naming the file, the line and the column.
 */
import { DatasetError } from '../dataset.ts'
import { isGzip, readChunks, type DataProgress, type ReadResult } from './read.ts'

export const MAX_CLASSES = 256

/** A decimal number, surrounding blanks allowed. */
const NUMBER = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/
/** What other tools write for non-finite values. */
const NON_FINITE = /^\s*[+-]?(?:nan|inf|infinity)\s*$/i

export interface CsvLayout {
  /** Cells per row. */
  cells: number
  /** 0-based index of the label cell. */
  labelIndex: number
}

export interface CsvOptions {
  /** --label-column as given; null: the last column. */
  labelColumn: string | null
  /** A test file must have the training file's columns and label kind. */
  like?: { file: string, layout: CsvLayout, mode: 'int' | 'names', names: ReadonlyMap<string, number> }
}

export interface CsvTable extends ReadResult {
  file: string
  rows: number
  features: number
  /** rows × features, row-major; the array may be longer (grown by doubling). */
  x: Float32Array
  /** Per row: the integer label, or (names) the id of its name in `names`. */
  labels: Int32Array
  mode: 'int' | 'names'
  /** Names: name → id in order of first appearance (a test file: the training file's ids). */
  names: Map<string, number>
  layout: CsvLayout
  header: string[] | null
}

/** The cells of one line; double quotes group cells with commas ("" is a quote). */
export function splitCsvLine (line: string, where: () => string): string[] {
  if (!line.includes('"')) return line.split(',')
  const cells: string[] = []
  let cell = ''; let quoted = false; let i = 0
  while (i < line.length) {
    const ch = line[i]
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cell += '"'; i += 2; continue }
      if (ch === '"') { quoted = false; i++; continue }
      cell += ch; i++; continue
    }
    if (ch === '"') { quoted = true; i++; continue }
    if (ch === ',') { cells.push(cell); cell = ''; i++; continue }
    cell += ch; i++
  }
  if (quoted) throw new DatasetError(`${where()}: a quoted cell is not closed`)
  cells.push(cell)
  return cells
}

const isNumberLike = (s: string): boolean => NUMBER.test(s) || NON_FINITE.test(s)

class CsvReader {
  readonly file: string
  private readonly opts: CsvOptions
  private layout: CsvLayout | null = null
  private header: string[] | null = null
  private firstLine = 0
  private mode: 'int' | 'names' | null
  private readonly names: Map<string, number>
  rows = 0
  x = new Float32Array(0)
  labels = new Int32Array(0)

  constructor (file: string, opts: CsvOptions) {
    this.file = file
    this.opts = opts
    this.mode = opts.like?.mode ?? null
    this.names = new Map(opts.like?.names ?? [])
  }

  private at (line: number): string { return `${this.file}:${line}` }

  private column (c: number): string {
    const name = this.header?.[c]
    return `column ${c + 1}${name !== undefined && name !== '' ? ` ('${name}')` : ''}`
  }

  /** Decides header, layout and label column from the first non-blank line; true when it is a header. */
  private start (cells: string[], line: number): boolean {
    const like = this.opts.like
    const label = this.opts.labelColumn
    let labelIndex: number
    let header = false
    const trimmed = cells.map(c => c.trim())
    if (label !== null && !/^\d+$/.test(label)) {
      labelIndex = trimmed.indexOf(label)
      if (labelIndex >= 0) header = true
      else if (like !== undefined) labelIndex = like.layout.labelIndex
      else if (trimmed.some(c => !isNumberLike(c))) throw new DatasetError(`${this.file}: --label-column '${label}' is not a column of the header line (${trimmed.join(', ')})`)
      else throw new DatasetError(`${this.file}: --label-column '${label}' names a column, but the file has no header line`)
    } else {
      labelIndex = label === null ? cells.length - 1 : Number(label) - 1
      if (labelIndex < 0 || labelIndex >= cells.length) throw new DatasetError(`${this.file}: --label-column ${label ?? ''}: the file has ${cells.length} columns (1..${cells.length})`)
      header = trimmed.some((c, i) => i !== labelIndex && !isNumberLike(c))
    }
    if (cells.length < 2) throw new DatasetError(`${this.at(line)}: 1 column; a row needs at least one feature and a label`)
    if (like !== undefined && (cells.length !== like.layout.cells || labelIndex !== like.layout.labelIndex)) {
      throw new DatasetError(`${this.at(line)}: ${cells.length} columns with the label in column ${labelIndex + 1}; ${like.file} has ${like.layout.cells} with the label in column ${like.layout.labelIndex + 1}`)
    }
    this.layout = { cells: cells.length, labelIndex }
    this.firstLine = line
    if (header) this.header = trimmed
    const features = cells.length - 1
    this.x = new Float32Array(features * 1024)
    this.labels = new Int32Array(1024)
    return header
  }

  line (text: string, line: number): void {
    if (text.trim() === '') return
    const cells = splitCsvLine(text, () => this.at(line))
    if (this.layout === null && this.start(cells, line)) return
    const { cells: width, labelIndex } = this.layout as CsvLayout
    if (cells.length !== width) throw new DatasetError(`${this.at(line)}: ${cells.length} cells, expected ${width} like line ${this.firstLine}`)
    const features = width - 1
    if ((this.rows + 1) * features > this.x.length) {
      const grown = new Float32Array(this.x.length * 2); grown.set(this.x); this.x = grown
    }
    if (this.rows + 1 > this.labels.length) {
      const grown = new Int32Array(this.labels.length * 2); grown.set(this.labels); this.labels = grown
    }
    let k = this.rows * features
    for (let c = 0; c < width; c++) {
      if (c === labelIndex) continue
      const cell = cells[c]
      if (!NUMBER.test(cell)) {
        if (cell.trim() === '') throw new DatasetError(`${this.at(line)}: ${this.column(c)} is empty`)
        if (NON_FINITE.test(cell)) throw new DatasetError(`${this.at(line)}: ${this.column(c)}: '${cell.trim()}' is not a finite number`)
        throw new DatasetError(`${this.at(line)}: ${this.column(c)}: '${cell.trim()}' is not a number`)
      }
      const v = Math.fround(Number(cell))
      if (!Number.isFinite(v)) throw new DatasetError(`${this.at(line)}: ${this.column(c)}: '${cell.trim()}' does not fit a 32-bit float`)
      this.x[k++] = v
    }
    this.labels[this.rows] = this.label(cells[labelIndex].trim(), line, labelIndex)
    this.rows++
  }

  private label (cell: string, line: number, c: number): number {
    if (cell === '') throw new DatasetError(`${this.at(line)}: missing label (${this.column(c)} is empty)`)
    const numeric = isNumberLike(cell)
    const mode = this.mode ?? (numeric ? 'int' : 'names')
    this.mode = mode
    if (mode === 'int') {
      if (!numeric) throw new DatasetError(`${this.at(line)}: label '${cell}' is a class name, but the labels ${this.opts.like !== undefined ? `of ${this.opts.like.file}` : 'before it'} are numbers (labels are all integers 0..K-1 or all class names)`)
      const v = Number(cell)
      if (!Number.isFinite(v)) throw new DatasetError(`${this.at(line)}: label '${cell}' is not a finite number`)
      if (!Number.isInteger(v)) throw new DatasetError(`${this.at(line)}: label ${cell} is not a whole number (labels are integers 0..K-1 or class names)`)
      if (v < 0 || v >= MAX_CLASSES) throw new DatasetError(`${this.at(line)}: label ${cell} is out of range: labels are integers 0..${MAX_CLASSES - 1} (or class names)`)
      return v
    }
    if (numeric) throw new DatasetError(`${this.at(line)}: label ${cell} is a number, but the labels ${this.opts.like !== undefined ? `of ${this.opts.like.file}` : 'before it'} are class names (labels are all integers 0..K-1 or all class names)`)
    const known = this.names.get(cell)
    if (known !== undefined) return known
    if (this.opts.like !== undefined) throw new DatasetError(`${this.at(line)}: class '${cell}' does not occur in ${this.opts.like.file}`)
    if (this.names.size >= MAX_CLASSES) throw new DatasetError(`${this.at(line)}: class '${cell}' is one more than the ${MAX_CLASSES} classes a dataset may have`)
    this.names.set(cell, this.names.size)
    return this.names.size - 1
  }

  finish (read: ReadResult): CsvTable {
    if (read.bytes === 0) throw new DatasetError(`${this.file}: the file is empty`)
    if (this.layout === null || this.rows === 0) throw new DatasetError(`${this.file}: no data rows`)
    return {
      ...read,
      file: this.file,
      rows: this.rows,
      features: this.layout.cells - 1,
      x: this.x,
      labels: this.labels,
      mode: this.mode ?? 'int',
      names: this.names,
      layout: this.layout,
      header: this.header
    }
  }
}

/** Reads and checks a CSV file in one pass (1 MiB chunks); memory: the features as float32, at most doubled. */
export function readCsv (path: string, opts: CsvOptions, progress?: DataProgress): CsvTable {
  const reader = new CsvReader(path, opts)
  const decoder = new TextDecoder('utf-8')
  let carry = ''
  let lineNo = 0
  const lines = (text: string, final: boolean): void => {
    const parts = (carry + text).split('\n')
    carry = final ? '' : (parts.pop() as string)
    for (const p of parts) {
      lineNo++
      reader.line(p.endsWith('\r') ? p.slice(0, -1) : p, lineNo)
    }
  }
  const read = readChunks(path, (chunk, offset) => {
    if (offset === 0 && isGzip(chunk)) throw new DatasetError(`${path}: the file is gzip-compressed; csv: reads plain text (gunzip it first)`)
    lines(decoder.decode(chunk, { stream: true }), false)
  }, progress)
  lines(decoder.decode(), true)
  return reader.finish(read)
}
