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

describe('scrubbing every form a credential is printed in', () => {
  const keys = {
    apiKey: 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A',
    secret: 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j',
  }
  const secrets = secretValues({ ...keys, password: 'pass phrase/+&=!' })
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

  it.each([
    ['as is', keys.secret],
    ['base64', base64(keys.secret)],
    ['base64url', Buffer.from(keys.secret).toString('base64url')],
    ['base64 of a passphrase', base64('pass phrase/+&=!')],
    ['form-encoded', new URLSearchParams({ p: 'pass phrase/+&=!' }).toString().slice(2)],
    ['URL-encoded', encodeURIComponent('pass phrase/+&=!')],
    ['Authorization: Basic from key and secret', base64(`${keys.apiKey}:${keys.secret}`)],
  ])('%s', (_form, printed) => {
    const text = `request failed: ${printed} (sent)`
    expect(scrubText(text, secrets)).toBe('request failed: [redacted] (sent)')
  })

  it('scrubs a cause’s name as well as its message and stack', () => {
    const cause = new Error(`refused ${keys.apiKey}`)
    cause.name = `HttpError[${base64(`${keys.apiKey}:${keys.secret}`)}]`
    const clean = scrubSyncError(toSyncError(cause), secrets)
    const printed = JSON.stringify({
      name: (clean.cause as Error).name,
      message: (clean.cause as Error).message,
      stack: (clean.cause as Error).stack,
      top: clean.stack,
    })
    for (const secret of secrets) expect(printed).not.toContain(secret)
    expect((clean.cause as Error).name).toBe('HttpError[[redacted]]')
  })
})
