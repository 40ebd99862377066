const DECIMAL = /^-?\d+(\.\d+)?$/

/** True for a plain decimal string such as `"12"`, `"-0.5"` or `"98765432.12345678"` (no exponent, no sign `+`). */
export function isDecimalString(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 80 && DECIMAL.test(value)
}

interface Scaled {
  units: bigint
  scale: number
}

function parse(value: string): Scaled {
  if (!isDecimalString(value)) throw new TypeError(`not a decimal string: ${JSON.stringify(value)}`)
  const negative = value.startsWith('-')
  const [whole, fraction = ''] = (negative ? value.slice(1) : value).split('.')
  const units = BigInt(`${whole}${fraction}`)
  return { units: negative ? -units : units, scale: fraction.length }
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale)
}

function format(units: bigint, scale: number): string {
  const negative = units < 0n
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0')
  const whole = digits.slice(0, digits.length - scale)
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : ''
  return `${negative ? '-' : ''}${whole}${fraction}`
}

/**
 * Exact sum of decimal strings, kept at the largest scale among the terms:
 * `sumDecimals(['98765432.12345678', '0.00000002'])` is `'98765432.12345680'`.
 */
export function sumDecimals(values: Iterable<string>): string {
  const terms = Array.from(values, parse)
  const scale = terms.reduce((max, term) => Math.max(max, term.scale), 0)
  let total = 0n
  for (const term of terms) total += rescale(term, scale)
  return format(total, scale)
}

/** Exact comparison of two decimal strings: negative, zero or positive like `Array.prototype.sort` wants. */
export function compareDecimals(a: string, b: string): number {
  const left = parse(a)
  const right = parse(b)
  const scale = Math.max(left.scale, right.scale)
  const difference = rescale(left, scale) - rescale(right, scale)
  return difference < 0n ? -1 : difference > 0n ? 1 : 0
}
