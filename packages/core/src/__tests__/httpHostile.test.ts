import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import {
  createSyncHandler,
  type FetchBalancesRequest,
  MemoryStore,
  SyncError,
  type SyncHandlerOptions,
  SyncScheduler,
} from '../index.js'

const KEYS = { apiKey: 'AK-hostile-5e4d3c2b1a', secret: 'SK-hostile-0f9e8d7c6b' }

function setup(overrides: Partial<SyncHandlerOptions> = {}, behave?: (request: FetchBalancesRequest) => unknown) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const binance = recordingAdapter('binance', async (request) => {
    const custom = await behave?.(request)
    if (custom !== undefined) return custom as never
    return { balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }] }
  })
  const scheduler = new SyncScheduler({ store, exchanges: [binance], clock })
  const errors: unknown[] = []
  const handler = createSyncHandler({
    scheduler,
    store,
    resolveUser: (request) => request.headers.get('x-user'),
    clock,
    onError: (error) => errors.push(error),
    ...overrides,
  })
  async function call(method: string, path: string, body?: unknown) {
    const response = await handler(
      new Request(`http://api.test${path}`, {
        method,
        headers: { 'x-user': 'alice', ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }),
    )
    const text = await response.text()
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined }
  }
  return { call, store, clock, binance, errors }
}

describe('methods named after Object.prototype members', () => {
  // Fetch servers (Bun, Deno, Hono) pass any token through as the method.
  it.each(['toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty', 'isPrototypeOf'])(
    '%s is a 405 with Allow on every route',
    async (method) => {
      const { call, errors } = setup()
      for (const path of ['/connections', '/connections/abc', '/connections/abc/sync', '/holdings', '/events']) {
        const response = await call(method, path)
        expect(response.status).toBe(405)
        expect(response.json.error.code).toBe('METHOD_NOT_ALLOWED')
        expect(response.headers.get('Allow')).toMatch(/^(GET|POST|PUT|DELETE)(, (GET|POST|PUT|DELETE))*$/)
      }
      expect(errors).toEqual([])
    },
  )
})

describe('POST /connections/:id/sync limited by the exchange', () => {
  it('answers 429 RATE_LIMITED with Retry-After when the outcome is RATE_LIMITED with retryAfterMs', async () => {
    const { call, store } = setup({}, () => {
      throw new SyncError('RATE_LIMITED', 'Too many requests', { retryAfterMs: 42_500, scope: 'account' })
    })
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const response = await call('POST', `/connections/${connection.id}/sync`)
    expect(response.status).toBe(429)
    expect(response.headers.get('Retry-After')).toBe('43')
    expect(response.json.error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 42_500 })
  })

  it('answers a scheduler that resolves RATE_LIMITED at once (a wait longer than timeoutMs) the same way', async () => {
    const store = new MemoryStore()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const scheduler: SyncHandlerOptions['scheduler'] = {
      exchanges: ['binance'],
      markActive: () => undefined,
      on: () => scheduler as never,
      off: () => scheduler as never,
      verifyCredentials: async () => ({ ok: true, balances: [] }),
      health: () => ({ ok: true, exchanges: {}, store: { ok: true, lastError: null } }),
      syncNow: async (connectionId) => ({
        ok: false,
        connectionId,
        error: new SyncError('RATE_LIMITED', 'Budget exhausted', { retryAfterMs: 90_000, scope: 'exchange' }),
      }),
    }
    const handler = createSyncHandler({ scheduler, store, resolveUser: () => 'alice', clock: new FakeClock() })
    const response = await handler(new Request(`http://api.test/connections/${connection.id}/sync`, { method: 'POST' }))
    expect(response.status).toBe(429)
    expect(response.headers.get('Retry-After')).toBe('90')
    expect(await response.json()).toMatchObject({ error: { code: 'RATE_LIMITED', retryAfterMs: 90_000 } })
  })

  it('keeps a RATE_LIMITED outcome without a wait as an ordinary failure', async () => {
    const { call, store } = setup({}, () => {
      throw new SyncError('RATE_LIMITED', 'Too many requests')
    })
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const response = await call('POST', `/connections/${connection.id}/sync`)
    expect(response.status).toBe(200)
    expect(response.json).toMatchObject({ outcome: 'failure', error: { code: 'RATE_LIMITED' } })
  })
})

describe('POST /connections throttled per user', () => {
  const body = { exchange: 'binance', credentials: KEYS }

  it('allows addConnectionLimit attempts per window, valid or not, then 429 ADD_THROTTLED with Retry-After', async () => {
    const { call, clock, binance } = setup({ addConnectionLimit: 3, addConnectionWindowMs: 60_000 })
    expect((await call('POST', '/connections', body)).status).toBe(201)
    await clock.advance(10_000)
    expect((await call('POST', '/connections', { exchange: 'binance' })).status).toBe(400)
    await clock.advance(10_000)
    expect((await call('POST', '/connections', body)).status).toBe(201)

    const refused = await call('POST', '/connections', body)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('Retry-After')).toBe('40')
    expect(refused.json.error).toMatchObject({ code: 'ADD_THROTTLED', retryAfterMs: 40_000 })
    // Refused attempts never reach the exchange and do not extend the wait.
    expect(binance.calls).toHaveLength(2)
    await clock.advance(39_999)
    expect((await call('POST', '/connections', body)).status).toBe(429)
    await clock.advance(1)
    expect((await call('POST', '/connections', body)).status).toBe(201)
  })

  it('counts each user apart, and defaults to 5 a minute', async () => {
    const { clock, store, binance } = setup()
    const scheduler = new SyncScheduler({ store, exchanges: [binance], clock })
    const handler = createSyncHandler({ scheduler, store, resolveUser: (r) => r.headers.get('x-user'), clock })
    const add = async (user: string) =>
      (
        await handler(
          new Request('http://api.test/connections', {
            method: 'POST',
            headers: { 'x-user': user, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }),
        )
      ).status
    for (let i = 0; i < 5; i++) expect(await add('alice')).toBe(201)
    expect(await add('alice')).toBe(429)
    expect(await add('bob')).toBe(201)
    await clock.advance(60_000)
    expect(await add('alice')).toBe(201)
  })

  it('rejects a bad limit naming the function and the key', () => {
    const { store, binance } = setup()
    const scheduler = new SyncScheduler({ store, exchanges: [binance], clock: new FakeClock() })
    expect(() => createSyncHandler({ scheduler, store, resolveUser: () => null, addConnectionLimit: 0 })).toThrow(
      /createSyncHandler.*addConnectionLimit/,
    )
  })
})
