import { describe, expect, it } from 'vitest'
import { scrubSyncError, scrubText, secretValues } from '../errors/scrub.js'
import { SyncError, toSyncError } from '../errors/syncError.js'

const credentials = { apiKey: 'AKIA-1234567890', secret: 'shh-very-secret', password: 'pass-phrase' }

describe('scrubbing secrets', () => {
  it('replaces every credential value in text', () => {
    const secrets = secretValues(credentials)
    expect(scrubText('key=AKIA-1234567890&sig=shh-very-secret AKIA-1234567890', secrets)).toBe(
      'key=[redacted]&sig=[redacted] [redacted]',
    )
  })

  it('ignores values too short to be keys', () => {
    expect(secretValues({ apiKey: 'abc', secret: '' })).toEqual([])
  })

  it('scrubs message, stack and the cause chain, and drops the cause’s other properties', () => {
    const cause = Object.assign(new Error('401 for AKIA-1234567890', { cause: new Error('pass-phrase wrong') }), {
      headers: { 'X-MBX-APIKEY': 'AKIA-1234567890' },
    })
    const error = toSyncError(cause)
    const clean = scrubSyncError(error, secretValues(credentials))
    expect(clean).toBeInstanceOf(SyncError)
    expect(clean.code).toBe('UNKNOWN')
    const all = JSON.stringify({
      message: clean.message,
      stack: clean.stack,
      cause: clean.cause,
      causeMessage: (clean.cause as Error).message,
      causeStack: (clean.cause as Error).stack,
      inner: ((clean.cause as Error).cause as Error).message,
    })
    expect(all).not.toContain('AKIA-1234567890')
    expect(all).not.toContain('pass-phrase')
    expect((clean.cause as Error & { headers?: unknown }).headers).toBeUndefined()
    expect(((clean.cause as Error).cause as Error).message).toBe('[redacted] wrong')
  })

  it('keeps code, retryAfterMs and scope', () => {
    const error = new SyncError('RATE_LIMITED', 'slow down AKIA-1234567890', { retryAfterMs: 5_000, scope: 'exchange' })
    expect(scrubSyncError(error, secretValues(credentials))).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterMs: 5_000,
      scope: 'exchange',
      message: 'slow down [redacted]',
    })
  })
})

describe('toSyncError', () => {
  it('passes SyncErrors through and wraps anything else as UNKNOWN with the cause', () => {
    const original = new SyncError('TIMEOUT', 'slow')
    expect(toSyncError(original)).toBe(original)
    const wrapped = toSyncError(new TypeError('x is undefined'))
    expect(wrapped).toMatchObject({ code: 'UNKNOWN', message: 'Adapter failed: x is undefined' })
    expect(wrapped.cause).toBeInstanceOf(TypeError)
    expect(toSyncError('a string')).toMatchObject({ code: 'UNKNOWN', message: 'Adapter failed: a string' })
  })

  it('recognises a SyncError from another copy of the package by name and code', () => {
    const foreign = Object.assign(new Error('nope'), { name: 'SyncError', code: 'AUTH_FAILED' })
    expect(toSyncError(foreign)).toBe(foreign)
  })
})
