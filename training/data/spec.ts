/**
 * What a dataset read from files is, as a job names it (docs/simulate.md §Your own data):
 *
 *   --dataset csv:PATH               one CSV file: numeric features and a label column
 *   --dataset idx:IMAGES,LABELS      the IDX pair of MNIST / Fashion-MNIST (gzipped or not)
 *
 * plus `TrainingConfig.data` (`DataFiles`): the sha256 of every file's bytes (a peer whose copy
 * differs refuses to start), the held-out set (`--test` or `--test-split`), the label column and
 * the normalisation. Everything else about the data (input width, classes, class names) is
 * derived from the files themselves, which the hashes pin.
 */
import { z } from 'zod'

export type Normalize = 'standard' | 'minmax'
export const NORMALIZE_MODES: readonly Normalize[] = ['standard', 'minmax']

/** Held out when neither --test nor --test-split is given: the MNIST split's 20 %. */
export const DEFAULT_TEST_SPLIT = 0.2

export type DataSource =
  | { format: 'csv', path: string }
  | { format: 'idx', images: string, labels: string }

export interface DataFiles {
  /** sha256 (hex) of each file's bytes, keyed by the path as given: every peer's copy must hash the same. */
  sha256: Record<string, string>
  /** --test: a held-out set in the dataset's format (`PATH`, or `IMAGES,LABELS` for idx), or null. */
  test: string | null
  /** --test-split: the fraction of each class held out (the last rows of the class, in file order); null with --test. */
  testSplit: number | null
  /** CSV: the label column as given (a header name, or a 0-based index); null: the last column. */
  labelColumn: string | null
  /** Per-feature normalisation, its statistics taken from the training split only; null: the values as read. */
  normalize: Normalize | null
}

const sha = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex')

/** The shape of `data` in a job file (checked before a peer trusts it). */
export const dataFilesSchema = z.object({
  sha256: z.record(z.string().min(1), sha),
  test: z.string().min(1).nullable(),
  testSplit: z.number().gt(0).lt(1).nullable(),
  labelColumn: z.string().min(1).nullable(),
  normalize: z.enum(['standard', 'minmax']).nullable()
}).strict()

/** True for `csv:…` and `idx:…` dataset names. */
export function isFileDataset (name: string): boolean {
  return name.startsWith('csv:') || name.startsWith('idx:')
}

/** The files a dataset name (`csv:PATH`, `idx:IMAGES,LABELS`) or a --test value in its format names; throws with the reason. */
export function parseDataSource (name: string, format: 'csv' | 'idx' = name.startsWith('idx:') ? 'idx' : 'csv', what = '--dataset'): DataSource {
  const body = name.startsWith(`${format}:`) ? name.slice(format.length + 1) : name
  if (format === 'csv') {
    if (body.trim() === '') throw new Error(`${what} csv:PATH needs a file path`)
    return { format, path: body }
  }
  const parts = body.split(',')
  if (parts.length !== 2 || parts[0].trim() === '' || parts[1].trim() === '') {
    throw new Error(`${what} idx:IMAGES,LABELS needs two file paths separated by one comma, got '${body}'`)
  }
  return { format, images: parts[0], labels: parts[1] }
}

/** The paths of a source, in a fixed order (images before labels). */
export function sourcePaths (s: DataSource): string[] {
  return s.format === 'csv' ? [s.path] : [s.images, s.labels]
}

/**
 * Why `data` does not fit the dataset name (null when it does): file datasets need a valid
 * `data` whose hashes cover exactly their files; mnist and synthetic have none.
 */
export function dataFilesProblem (dataset: string, data: unknown): string | null {
  if (!isFileDataset(dataset)) return data === undefined ? null : `--dataset ${dataset} reads no files, but the config has data files`
  if (data === undefined) return `--dataset ${dataset}: the config lacks 'data' (the files' sha256; make it with codenet job init)`
  const r = dataFilesSchema.safeParse(data)
  if (!r.success) {
    const i = r.error.issues[0]
    return `data.${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`
  }
  const d = r.data
  if ((d.test === null) === (d.testSplit === null)) return 'data: exactly one of test and testSplit must be set'
  let paths: string[]
  try {
    const format = dataset.startsWith('idx:') ? 'idx' : 'csv'
    paths = sourcePaths(parseDataSource(dataset))
    if (d.test !== null) paths.push(...sourcePaths(parseDataSource(d.test, format, '--test')))
  } catch (err) { return (err as Error).message }
  const hashed = Object.keys(d.sha256).sort()
  const named = [...new Set(paths)].sort()
  if (hashed.join('\n') !== named.join('\n')) return `data.sha256 must hash exactly the files ${named.join(', ')} (it hashes ${hashed.join(', ') || 'none'})`
  if (d.labelColumn !== null && dataset.startsWith('idx:')) return '--label-column applies to csv: datasets'
  return null
}
