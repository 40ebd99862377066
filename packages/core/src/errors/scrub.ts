import type { Credentials } from '../types.js'
import { SyncError } from './syncError.js'

const REDACTED = '[redacted]'
/** Shorter values are not scrubbed: they would mangle ordinary text and are not real keys anyway. */
const MIN_SECRET_LENGTH = 4
const MAX_CAUSE_DEPTH = 4

/**
 * Every credential value worth scrubbing, in each form it may be printed in: as is, URL-encoded (a query string
 * or a signed URL), form-encoded (a POST body), base64 and base64url (a token, a signed payload), and the
 * `Authorization: Basic` value built from key and secret. Longest first, so a form is never half-replaced by a
 * shorter one it contains.
 */
export function secretValues(credentials: Credentials | null | undefined): string[] {
  if (!credentials) return []
  const values = new Set<string>()
  const add = (value: string) => {
    values.add(value)
    values.add(encodeURIComponent(value))
    values.add(new URLSearchParams([['', value]]).toString().slice(1))
    const base64 = toBase64(value)
    values.add(base64)
    values.add(base64.replace(/=+$/, ''))
    values.add(base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))
  }
  for (const value of Object.values(credentials)) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue
    add(value)
  }
  const { apiKey, secret } = credentials
  if (typeof apiKey === 'string' && typeof secret === 'string' && apiKey.length + secret.length >= MIN_SECRET_LENGTH) {
    add(`${apiKey}:${secret}`)
  }
  return [...values].filter((value) => value.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length)
}

/** Standard base64 of the UTF-8 bytes, with the Web API only (the core runs outside Node too). */
function toBase64(value: string): string {
  let binary = ''
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte)
  return btoa(binary)
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
  copy.name = scrubText(cause.name, secrets)
  copy.stack = cause.stack === undefined ? undefined : scrubText(cause.stack, secrets)
  return copy
}
