import { describe, expect, it } from 'vitest'
import { referenceSalt } from './audit.ts'

describe('the audit\'s reference salt', () => {
  it('is the salt a strict majority of the sketches carry, else this peer\'s own', () => {
    const m = (entries: Array<[number, number]>): Map<number, number> => new Map(entries)
    expect(referenceSalt(m([[0, 7], [1, 7], [2, 9]]), 9)).toBe(7)
    expect(referenceSalt(m([[0, 7], [1, 7], [2, 7], [3, 9], [4, 9]]), 9)).toBe(7)
    // No strict majority: this peer's own (its sketches then judge as before).
    expect(referenceSalt(m([[0, 7], [1, 7], [2, 9], [3, 9]]), 9)).toBe(9)
    expect(referenceSalt(m([[0, 1], [1, 2], [2, 3]]), 5)).toBe(5)
    expect(referenceSalt(m([]), 4)).toBe(4)
  })
})
