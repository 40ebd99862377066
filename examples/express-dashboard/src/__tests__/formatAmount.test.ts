import { describe, expect, it } from 'vitest'
import { formatAmount, formatAmountText } from '../ui/format/formatAmount.js'

describe('formatAmount', () => {
  it('keeps every digit of amounts a float would round', () => {
    expect(formatAmountText('98765432.12345678', { locale: 'en-US' })).toBe('98,765,432.12345678')
    expect(formatAmountText('123456789012345678901.5', { locale: 'en-US' })).toBe('123,456,789,012,345,678,901.50')
  })

  it('drops trailing zeros down to two decimals, and pads the rest apart for alignment', () => {
    expect(formatAmount('2430.55000000', { locale: 'en-US', padTo: 8 })).toEqual({
      whole: '2,430',
      fraction: '.55',
      padding: '000000',
    })
    expect(formatAmount('12', { locale: 'en-US' })).toEqual({ whole: '12', fraction: '.00', padding: '' })
    expect(formatAmount('0.00012300', { locale: 'en-US', padTo: 8 })).toEqual({
      whole: '0',
      fraction: '.000123',
      padding: '00',
    })
  })

  it("uses the locale's separators", () => {
    expect(formatAmountText('1234567.5', { locale: 'de-DE' })).toBe('1.234.567,50')
  })

  it('shows anything that is not a decimal string as it is, and no sign on zero', () => {
    expect(formatAmountText('n/a')).toBe('n/a')
    expect(formatAmountText('-0.000', { locale: 'en-US' })).toBe('0.00')
    expect(formatAmountText('-1.5', { locale: 'en-US' })).toBe('-1.50')
  })
})
