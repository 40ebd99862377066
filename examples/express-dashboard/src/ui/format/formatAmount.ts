export interface AmountFormat {
  /** Locale for the group and decimal separators. @default the browser's */
  locale?: string
  /** Decimals always shown, trailing zeros included. @default 2 */
  minFractionDigits?: number
  /** Decimals to pad to with zeros (returned apart as `padding`), so amounts in a column line up. @default none */
  padTo?: number
}

export interface FormattedAmount {
  /** The integer part with the locale's group separators, e.g. `2,430`. */
  whole: string
  /** The decimal separator and the significant decimals, e.g. `.55`; empty for none. */
  fraction: string
  /** Zeros that pad `fraction` to `padTo` decimals, for a lighter style. */
  padding: string
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/

/**
 * Formats a decimal string for display without passing through `Number` (which would round amounts such as
 * `98765432.12345678`): the integer part is grouped by `Intl.NumberFormat` on a BigInt, trailing zeros of the
 * fraction are dropped down to `minFractionDigits`. Anything that is not a decimal string is returned as it is.
 */
export function formatAmount(value: string, options: AmountFormat = {}): FormattedAmount {
  const { locale, minFractionDigits = 2, padTo = 0 } = options
  const match = DECIMAL.exec(value)
  if (!match) return { whole: value, fraction: '', padding: '' }
  const [, sign = '', integer = '0', decimals = ''] = match
  const format = new Intl.NumberFormat(locale)
  const separator = format.formatToParts(1.5).find((part) => part.type === 'decimal')?.value ?? '.'
  let digits = decimals.replace(/0+$/, '')
  if (digits.length < minFractionDigits) digits = digits.padEnd(minFractionDigits, '0')
  const isZero = /^0*$/.test(integer) && /^0*$/.test(decimals)
  return {
    whole: `${isZero ? '' : sign}${format.format(BigInt(integer))}`,
    fraction: digits ? `${separator}${digits}` : '',
    padding: '0'.repeat(Math.max(0, padTo - digits.length)),
  }
}

/** `formatAmount` as one string, without padding. */
export function formatAmountText(value: string, options: Omit<AmountFormat, 'padTo'> = {}): string {
  const { whole, fraction } = formatAmount(value, options)
  return `${whole}${fraction}`
}
