import type { Credentials } from '../types.js'
import { SyncError } from './syncError.js'

const REDACTED = '[redacted]'
/** Shorter values are not scrubbed: they would mangle ordinary text and are not real keys anyway. */
const MIN_SECRET_LENGTH = 4
const MAX_CAUSE_DEPTH = 4

/** Every credential value worth scrubbing, also as it appears URL-encoded (in a query string or a signed URL). */
export function secretValues(credentials: Credentials | null | undefined): string[] {
  if (!credentials) return []
  const values = new Set<string>()
  for (const value of Object.values(credentials)) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue
    values.add(value)
    values.add(encodeURIComponent(value))
  }
  return [...values]
}

/** The text with every secret replaced. Takes anything: an adapter may throw values that are not strings. */
export function scrubText(text: unknown, secrets: readonly string[]): string {
  let clean = safeString(text)
  for (const secret of secrets) {
    if (clean.includes(secret)) clean = clean.split(secret).join(REDACTED)
  }
  return clean
}

/** `String(value)`, except it never throws (`Object.create(null)` has no `toString`). */
export function safeString(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/**
 * A copy of the error that can leave the sync: message and stack scrubbed of every credential value, and the
 * cause chain replaced by plain Errors holding only scrubbed name, message and stack (an adapter's error object
 * may carry request headers or URLs with the key in them, so its other properties are dropped).
 */
export function scrubSyncError(error: SyncError, secrets: readonly string[]): SyncError {
  const cause = scrubCause(error.cause, secrets, 0)
  const clean = new SyncError(error.code, scrubText(error.message, secrets), {
    retryAfterMs: error.retryAfterMs,
    scope: error.scope,
    cause,
  })
  clean.stack = error.stack === undefined ? undefined : scrubText(error.stack, secrets)
  return clean
}

function scrubCause(cause: unknown, secrets: readonly string[], depth: number): Error | undefined {
  if (cause === undefined || cause === null) return undefined
  if (depth >= MAX_CAUSE_DEPTH) return undefined
  if (!(cause instanceof Error)) return new Error(scrubText(cause, secrets))
  const inner = scrubCause(cause.cause, secrets, depth + 1)
  const copy = new Error(scrubText(cause.message, secrets), inner === undefined ? undefined : { cause: inner })
  copy.name = safeString(cause.name)
  copy.stack = cause.stack === undefined ? undefined : scrubText(cause.stack, secrets)
  return copy
}
