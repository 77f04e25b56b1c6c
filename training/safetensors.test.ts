import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { decodeSafetensors, encodeSafetensors, looksLikeSafetensors } from './safetensors.ts'
import { exportWeights, readWeightsFile, writeWeightsFile, type WeightsExport } from './evaluate.ts'
import { createRng } from './rng.ts'
import type { Model } from './model.ts'

const dir = mkdtempSync(join(tmpdir(), 'codenet-st-'))

function randomModel (widths: number[], seed: number): Model {
  const rng = createRng(seed, 'safetensors-test')
  return {
    activation: 'tanh',
    layers: widths.slice(1).map((rows, l) => ({
      w: { rows, cols: widths[l], data: Float64Array.from({ length: rows * widths[l] }, () => rng.normal() / 3) },
      b: Float64Array.from({ length: rows }, () => rng.normal())
    }))
  }
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0

/**
 * An independent reader: python3 + numpy when present (what a PyTorch user's tools do: the
 * 8-byte length, the JSON header, np.frombuffer of little-endian f8), compared there with the
 * JSON export's numbers; otherwise the same steps here, with nothing of safetensors.ts.
 */
function readIndependently (stPath: string, jsonPath: string, numpy: boolean): { tensors: string[], meta: Record<string, string>, equal: boolean } {
  if (numpy) {
    const py = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert (8 + n) % 8 == 0
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__')
data = raw[8 + n:]
ref = json.load(open(sys.argv[2]))
equal = True
for i, layer in enumerate(ref['layers']):
    for name, shape, values in ((f'layers.{i}.weight', [layer['rows'], layer['cols']], layer['weights']), (f'layers.{i}.bias', [layer['rows']], layer['bias'])):
        e = header[name]
        assert e['dtype'] == 'F64' and e['shape'] == shape, (name, e)
        a, b = e['data_offsets']
        t = np.frombuffer(data[a:b], dtype='<f8').reshape(shape)
        want = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(shape)
        equal = equal and bool(np.array_equal(t, want, equal_nan=True))
print(json.dumps({'tensors': sorted(header), 'meta': meta, 'equal': equal}))
`
    const r = spawnSync('python3', ['-c', py, stPath, jsonPath], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(r.stderr)
    return JSON.parse(r.stdout)
  }
  const raw = readFileSync(stPath)
  const n = Number(raw.readBigUInt64LE(0))
  const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'))
  const meta = header.__metadata__; delete header.__metadata__
  const ref = JSON.parse(readFileSync(jsonPath, 'utf8')) as WeightsExport
  let equal = true
  ref.layers.forEach((l, i) => {
    for (const [name, values] of [[`layers.${i}.weight`, l.weights], [`layers.${i}.bias`, l.bias]] as const) {
      const [a] = header[name].data_offsets as number[]
      values.forEach((v, k) => {
        const got = raw.readDoubleLE(8 + n + a + 8 * k)
        if (!(v === null ? Number.isNaN(got) : got === v)) equal = false
      })
    }
  })
  return { tensors: Object.keys(header).sort(), meta, equal }
}

describe('safetensors export', () => {
  it(`is read by independent readers (${hasNumpy ? 'python3 + numpy and ' : ''}a minimal one) with the JSON export's numbers`, () => {
    const model = randomModel([7, 5, 3], 1)
    model.layers[1].b[2] = NaN // a diverged value: null in JSON, NaN in safetensors
    const w = exportWeights(model)
    const json = join(dir, 'w.json'); const st = join(dir, 'w.safetensors')
    writeWeightsFile(json, w)
    writeWeightsFile(st, w)
    for (const numpy of hasNumpy ? [true, false] : [false]) {
      const r = readIndependently(st, json, numpy)
      expect(r.tensors).toEqual(['layers.0.bias', 'layers.0.weight', 'layers.1.bias', 'layers.1.weight'])
      expect(r.meta).toEqual({ format: 'codenet', activation: 'tanh', widths: '7-5-3' })
      expect(r.equal).toBe(true)
    }
  })

  it('reads back to the same export, from F64 or F32, and is told apart from JSON by its bytes', () => {
    const w = exportWeights(randomModel([4, 6, 2], 2))
    const bytes = encodeSafetensors(w)
    expect(looksLikeSafetensors(bytes)).toBe(true)
    expect(looksLikeSafetensors(new TextEncoder().encode(JSON.stringify(w)))).toBe(false)
    expect(decodeSafetensors(bytes)).toEqual(w)
    // A file named .json that holds safetensors still reads (the bytes decide).
    const odd = join(dir, 'really-safetensors.json')
    writeFileSync(odd, bytes)
    expect(exportWeights(readWeightsFile(odd))).toEqual(w)
    // F32, as torch.save_file of a float32 model writes it.
    const header = JSON.stringify({ __metadata__: { activation: 'relu' }, 'layers.0.weight': { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] }, 'layers.0.bias': { dtype: 'F32', shape: [1], data_offsets: [8, 12] } })
    const f32 = Buffer.alloc(8 + header.length + 12)
    f32.writeBigUInt64LE(BigInt(header.length), 0); f32.write(header, 8)
    ;[0.5, -1.25, 3].forEach((v, i) => f32.writeFloatLE(v, 8 + header.length + 4 * i))
    expect(decodeSafetensors(f32)).toEqual({ activation: 'relu', layers: [{ rows: 1, cols: 2, weights: [0.5, -1.25], bias: [3] }] })
  })

  it('refuses a malformed file with the reason', () => {
    const w = exportWeights(randomModel([3, 2], 3))
    const bytes = encodeSafetensors(w)
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 8))).toThrow(/layers\.0\.(weight|bias): data_offsets .* do not hold shape/)
    const noAct = Buffer.from(bytes)
    const text = noAct.toString('latin1').replace('"activation":"tanh"', '"activation":"gelu"')
    expect(() => decodeSafetensors(Buffer.from(text, 'latin1'))).toThrow('__metadata__.activation must be relu|sigmoid|tanh, got "gelu"')
  })
})
