import { SyncError } from '../errors/syncError.js'
import type { Balance, FetchBalancesResult } from '../types.js'
import { isDecimalString } from './decimal.js'

const AMOUNT_FIELDS = ['free', 'used', 'total'] as const

function invalid(message: string): SyncError {
  return new SyncError('INVALID_RESPONSE', `Adapter returned an invalid result: ${message}`)
}

/**
 * Checks what an adapter resolved with and returns a clean copy: `{ balances }` where every balance has a
 * non-empty `asset` and decimal-string amounts. Throws `INVALID_RESPONSE` naming the first thing wrong.
 * Hand-written rather than a schema: it runs once per sync, on the hot path.
 */
export function validateResult(value: unknown): FetchBalancesResult {
  if (typeof value !== 'object' || value === null) return fail(`expected an object, got ${typeof value}`)
  const { balances, usage, accountId } = value as { balances?: unknown; usage?: unknown; accountId?: unknown }
  if (!Array.isArray(balances)) return fail('"balances" is not an array')
  const clean: Balance[] = new Array(balances.length)
  for (let index = 0; index < balances.length; index++) {
    const entry = balances[index] as Partial<Record<keyof Balance, unknown>> | null
    if (typeof entry !== 'object' || entry === null) return fail(`balances[${index}] is not an object`)
    if (typeof entry.asset !== 'string' || entry.asset.length === 0 || entry.asset.length > 64) {
      return fail(`balances[${index}].asset is not a non-empty string`)
    }
    for (const field of AMOUNT_FIELDS) {
      if (!isDecimalString(entry[field])) {
        return fail(`balances[${index}].${field} is not a decimal string (${describe(entry[field])})`)
      }
    }
    clean[index] = {
      asset: entry.asset,
      free: entry.free as string,
      used: entry.used as string,
      total: entry.total as string,
    }
  }
  const usedWeight = (usage as { usedWeight?: unknown } | undefined)?.usedWeight
  if (usedWeight !== undefined && !(Number.isFinite(usedWeight) && (usedWeight as number) >= 0)) {
    return fail('"usage.usedWeight" is not a non-negative number')
  }
  if (accountId !== undefined && !(typeof accountId === 'string' && accountId.length > 0 && accountId.length <= 128)) {
    return fail('"accountId" is not a non-empty string of at most 128 characters')
  }
  const result: FetchBalancesResult = { balances: clean }
  if (usedWeight !== undefined) result.usage = { usedWeight: usedWeight as number }
  if (accountId !== undefined) result.accountId = accountId as string
  return result
}

function fail(message: string): never {
  throw invalid(message)
}

/**
 * The kind of a value, never the value: a response that echoes a key into a balance field must not put it into
 * `lastError` and from there into `GET /connections`.
 */
function describe(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (Array.isArray(value)) return `an array of ${value.length}`
  return value === null ? 'null' : typeof value
}
