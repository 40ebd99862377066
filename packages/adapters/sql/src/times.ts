/** Stands for "never" (`lastSyncAt`) and "now" (`nextSyncAt`) in NOT NULL indexed columns: before every real time. */
export const NEVER = Number.MIN_SAFE_INTEGER

/** Refuses a time that is not a finite number, naming the store method, the field and the value. */
export function assertTimes(owner: string, record: Record<string, unknown>, fields: readonly string[]): void {
  for (const field of fields) {
    const value = record[field]
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`${owner}: "${field}" must be a finite number of epoch ms; received ${String(value)}`)
    }
  }
}

export const orNever = (time: number | null): number => time ?? NEVER
export const fromNever = (value: unknown): number | null => {
  const time = toNumber(value)
  return time === null || time === NEVER ? null : time
}
export const toNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : typeof value === 'number' ? value : Number(value)
