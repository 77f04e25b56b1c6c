/** Datasets read from files: `csv:PATH` and `idx:IMAGES,LABELS` (docs/simulate.md §Your own data). */
export { loadFileDataset, holdOut, normalize, type FileDataRequest, type LoadOptions, type LoadedData } from './load.ts'
export { readCsv, splitCsvLine, MAX_CLASSES, type CsvTable, type CsvOptions } from './csv.ts'
export { readIdxImages, readIdxLabels, readIdxPair, type IdxImages, type IdxLabels } from './idx.ts'
export { readChunks, isGzip, type DataProgress } from './read.ts'
export {
  dataFilesSchema, dataFilesProblem, isFileDataset, parseDataSource, sourcePaths,
  DEFAULT_TEST_SPLIT, NORMALIZE_MODES, type DataFiles, type DataSource, type Normalize
} from './spec.ts'
