import { isDecimalString, sumDecimals } from '@syncfolio/core'

const EXPONENTIAL = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/i

/**
 * A number as a plain decimal string, never with an exponent: `1e-7` becomes `'0.0000001'`, `1.5e21`
 * `'1500000000000000000000'`. The digits are JavaScript's shortest round-trip form of the float, so a value
 * the exchange sent as `0.1` comes back as `'0.1'`, but a float cannot hold more than ~16 significant digits.
 * Returns undefined for NaN and infinities.
 */
export function toPlainDecimal(value: number): string | undefined {
  if (!Number.isFinite(value)) return undefined
  if (Object.is(value, -0)) return '0'
  const text = String(value)
  const match = EXPONENTIAL.exec(text)
  if (!match) return text
  const [, sign, whole = '', fraction = '', exponentText = '0'] = match
  const digits = `${whole}${fraction}`
  const point = whole.length + Number(exponentText)
  let result: string
  if (point <= 0) result = `0.${'0'.repeat(-point)}${digits}`
  else if (point >= digits.length) result = `${digits}${'0'.repeat(point - digits.length)}`
  else result = `${digits.slice(0, point)}.${digits.slice(point)}`
  return `${sign}${trimZeros(result)}`
}

/** A ccxt amount (number, numeric string or missing) as a decimal string, or undefined when it is not one. */
export function amountToDecimal(value: unknown): string | undefined {
  if (typeof value === 'number') return toPlainDecimal(value)
  if (typeof value !== 'string' || value === '') return undefined
  if (isDecimalString(value)) return value
  const number = Number(value)
  return Number.isNaN(number) ? undefined : toPlainDecimal(number)
}

/** Exact `a - b`. */
export function subtractDecimals(a: string, b: string): string {
  return sumDecimals([a, b.startsWith('-') ? b.slice(1) : `-${b}`])
}

/** True for `'0'`, `'0.000'`, `'-0.0'`. */
export function isZeroDecimal(value: string): boolean {
  return /^-?0(\.0*)?$/.test(value)
}

function trimZeros(text: string): string {
  let result = text.replace(/^0+(?=\d)/, '')
  if (result.includes('.')) result = result.replace(/0+$/, '').replace(/\.$/, '')
  return result
}
