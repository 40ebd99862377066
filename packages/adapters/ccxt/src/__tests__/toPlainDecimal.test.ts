import { describe, expect, it } from 'vitest'
import { amountToDecimal, subtractDecimals, toPlainDecimal } from '../toPlainDecimal.js'

describe('toPlainDecimal', () => {
  it('writes floats without exponents', () => {
    expect(toPlainDecimal(1e-7)).toBe('0.0000001')
    expect(toPlainDecimal(1.23e-10)).toBe('0.000000000123')
    expect(toPlainDecimal(-4.5e-8)).toBe('-0.000000045')
    expect(toPlainDecimal(1.5e21)).toBe('1500000000000000000000')
    expect(toPlainDecimal(1e21)).toBe('1000000000000000000000')
    expect(toPlainDecimal(0.1)).toBe('0.1')
    expect(toPlainDecimal(12)).toBe('12')
    expect(toPlainDecimal(-0)).toBe('0')
  })

  it('keeps the shortest digits that round-trip, and nothing more', () => {
    expect(toPlainDecimal(0.1 + 0.2)).toBe('0.30000000000000004')
    expect(toPlainDecimal(98765432.12345678 + 0.00000002)).toBe('98765432.12345679')
  })

  it('refuses what is not a number', () => {
    expect(toPlainDecimal(Number.NaN)).toBeUndefined()
    expect(toPlainDecimal(Number.POSITIVE_INFINITY)).toBeUndefined()
  })
})

describe('amountToDecimal', () => {
  it('keeps decimal strings as they are and converts numeric strings and numbers', () => {
    expect(amountToDecimal('98765432.12345678')).toBe('98765432.12345678')
    expect(amountToDecimal('1e-8')).toBe('0.00000001')
    expect(amountToDecimal(2.5)).toBe('2.5')
    expect(amountToDecimal('')).toBeUndefined()
    expect(amountToDecimal('lots')).toBeUndefined()
    expect(amountToDecimal(null)).toBeUndefined()
    expect(amountToDecimal(undefined)).toBeUndefined()
  })
})

describe('subtractDecimals', () => {
  it('is exact', () => {
    expect(subtractDecimals('98765432.12345680', '0.00000002')).toBe('98765432.12345678')
    expect(subtractDecimals('1', '-0.5')).toBe('1.5')
    expect(subtractDecimals('0.1', '0.3')).toBe('-0.2')
  })
})
