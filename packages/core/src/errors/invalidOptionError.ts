/** A bad option passed to a constructor or factory. Names the field and the value received. */
export class InvalidOptionError extends TypeError {
  override readonly name = 'InvalidOptionError'
  readonly code = 'INVALID_OPTION'
  /** Dotted path of the offending option, e.g. `backoff.maxMs`. */
  readonly field: string
  readonly received: unknown

  constructor(owner: string, field: string, problem: string, received: unknown) {
    super(`${owner}: option "${field}" is invalid: ${problem}; received ${describeValue(received)}`)
    this.field = field
    this.received = received
  }
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (value === null || typeof value !== 'object') return String(value)
  return 'an object'
}
