import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { expandFma, expandRepeats, generateWasmBinaryModule, OUTPUT_PATH } from './build.ts'

describe('build:wasm', () => {
  it('the committed wasm-binary.ts is exactly what the build generates from gemm.wat', async () => {
    expect(await generateWasmBinaryModule()).toBe(readFileSync(OUTPUT_PATH, 'utf8'))
  })

  it('expands #repeat blocks with their arithmetic', () => {
    expect(expandRepeats('a\n  ;;#repeat u 0..2\n  x offset={{u*16+8}}\n  ;;#end\nb')).toBe('a\n  x offset=8\n  x offset=24\n  x offset=40\nb')
    expect(() => expandRepeats(';;#repeat u 0..1\nx')).toThrow(/without #end/)
    expect(() => expandRepeats('  (x {{u}})')).toThrow(/outside #repeat/)
    expect(() => expandRepeats(';;#repeat u 0..1\n{{process.exit()}}\n;;#end')).toThrow(/unsupported expression/)
  })

  it('expands FMA to relaxed_madd or to mul + add', () => {
    expect(expandFma('(FMA $c $a $b)', 'relaxed')).toBe('(local.set $c (f64x2.relaxed_madd (local.get $a) (local.get $b) (local.get $c)))')
    expect(expandFma('(FMA $c $a $b)', 'simd')).toBe('(local.set $c (f64x2.add (f64x2.mul (local.get $a) (local.get $b)) (local.get $c)))')
  })
})
