import { describe, expect, it } from 'vitest'
import { compareDecimals, isDecimalString, sumDecimals } from '../balances/decimal.js'

describe('decimal strings', () => {
  it('sums exactly where floats would not', () => {
    expect(sumDecimals(['98765432.12345678', '0.00000002'])).toBe('98765432.12345680')
    expect(0.1 + 0.2).not.toBe(0.3)
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3')
    expect(sumDecimals(['1', '0.000000000000000001'])).toBe('1.000000000000000001')
  })

  it('handles signs, zero and empty input', () => {
    expect(sumDecimals(['-1.5', '0.25'])).toBe('-1.25')
    expect(sumDecimals(['-0.5', '0.5'])).toBe('0.0')
    expect(sumDecimals([])).toBe('0')
    expect(sumDecimals(['-0.00000001'])).toBe('-0.00000001')
  })

  it('rejects anything that is not a plain decimal string', () => {
    for (const bad of ['1e-8', '+1', '1.', '.5', 'NaN', '', ' 1', '0x10', 1, null]) {
      expect(isDecimalString(bad)).toBe(false)
    }
    expect(() => sumDecimals(['1', '1e5'])).toThrow('not a decimal string: "1e5"')
  })

  it('compares exactly', () => {
    expect(compareDecimals('0.10', '0.1')).toBe(0)
    expect(compareDecimals('98765432.12345679', '98765432.12345678')).toBe(1)
    expect(compareDecimals('-2', '1')).toBe(-1)
  })
})
