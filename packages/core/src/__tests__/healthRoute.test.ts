import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it, vi } from 'vitest'
import { createSyncClient, healthResponseSchema } from '../client/index.js'
import { createSyncHandler, InvalidOptionError, MemoryStore, type SyncHandlerOptions, SyncScheduler } from '../index.js'

const EXCHANGE = { lastSweepAt: 5, pausedUntil: null, budgetLeft: 100, inFlight: 0, queued: 0 }
const KEYS = { apiKey: 'AK-alice-7f3c9d2e1a55', secret: 'SK-alice-4b8e6f0c2d9a77' }

async function setup(overrides: Partial<SyncHandlerOptions> = {}) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const connection = await store.add({ userId: 'alice', exchange: 'binance', label: 'Main', credentials: KEYS })
  const scheduler = new SyncScheduler({
    store,
    clock,
    exchanges: [
      recordingAdapter('binance', () => ({ balances: [] })),
      recordingAdapter('okx', () => ({ balances: [] })),
    ],
    limits: { binance: { budgets: [{ scope: 'exchange', limit: 6000, windowMs: 60_000 }], cost: 20 } },
  })
  scheduler.on('error', () => {})
  // Probes carry no session: any call to the app's auth is a defect, so the spy throws and is counted.
  const resolveUser = vi.fn((): string => {
    throw new Error('resolveUser must not be asked for /health')
  })
  const errors: unknown[] = []
  const handler = createSyncHandler({
    scheduler,
    store,
    resolveUser,
    clock,
    onError: (error) => errors.push(error),
    ...overrides,
  })
  const call = async (method: string, path = '/health') => {
    const response = await handler(new Request(`http://api.test${path}`, { method }))
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined }
  }
  return { clock, store, connection, scheduler, resolveUser, errors, handler, call }
}

describe('GET /health', () => {
  it("answers the scheduler's health with 200, no-store, and never asks resolveUser", async () => {
    const { scheduler, resolveUser, errors, call, clock } = await setup()
    await clock.advance(1_000)
    await scheduler.runOnce()
    const response = await call('GET')
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/)
    expect(response.json).toEqual(scheduler.health())
    expect(response.json.exchanges.binance).toMatchObject({ lastSweepAt: clock.now(), budgetLeft: 6000 - 20 })
    expect(Object.keys(response.json.exchanges)).toEqual(['binance', 'okx'])
    expect(healthResponseSchema.parse(response.json)).toEqual(response.json)
    expect(resolveUser).not.toHaveBeenCalled()
    expect(errors).toEqual([])
  })

  it('holds no user data: no user id, connection id, label or key', async () => {
    const { scheduler, connection, call } = await setup()
    await scheduler.runOnce()
    const { text } = await call('GET')
    for (const value of ['alice', connection.id, 'Main', KEYS.apiKey, KEYS.secret]) expect(text).not.toContain(value)
  })

  it('answers 503 with the scrubbed store error while the store fails, and 200 after a good call', async () => {
    const { store, scheduler, resolveUser, call } = await setup()
    const listDue = store.listDue.bind(store)
    store.listDue = () => Promise.reject(new Error('connect ECONNREFUSED postgres://app:hunter2@db:5432/prod'))
    await scheduler.runOnce()
    const failing = await call('GET')
    expect(failing.status).toBe(503)
    expect(failing.headers.get('Cache-Control')).toBe('no-store')
    expect(failing.json).toMatchObject({ ok: false, store: { ok: false } })
    expect(failing.json.store.lastError.message).toContain('store.listDue')
    expect(failing.text).not.toContain('hunter2')
    store.listDue = listDue
    await scheduler.runOnce()
    const healed = await call('GET')
    expect(healed.status).toBe(200)
    expect(healed.json).toMatchObject({ ok: true, store: { ok: true, lastError: null } })
    expect(resolveUser).not.toHaveBeenCalled()
  })

  it('answers other methods with 405 and Allow: GET, as every route does', async () => {
    const { resolveUser, call } = await setup()
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const response = await call(method)
      expect(response.status).toBe(405)
      expect(response.headers.get('Allow')).toBe('GET')
      expect(response.json.error.code).toBe('METHOD_NOT_ALLOWED')
    }
    expect(resolveUser).not.toHaveBeenCalled()
  })

  it('lives under basePath, with a trailing slash too, and only there', async () => {
    const { call } = await setup({ basePath: '/api/syncfolio' })
    expect((await call('GET', '/api/syncfolio/health')).status).toBe(200)
    expect((await call('GET', '/api/syncfolio/health/')).status).toBe(200)
    expect((await call('GET', '/health')).status).toBe(404)
  })

  it('leaves every other route behind resolveUser', async () => {
    const { resolveUser, errors, call } = await setup()
    expect((await call('GET', '/connections')).status).toBe(500)
    expect(resolveUser).toHaveBeenCalledTimes(1)
    expect(errors).toHaveLength(1)
  })

  it("sends only the contract's fields of a scheduler's health, and answers 500 for one outside the contract", async () => {
    const store = new MemoryStore()
    const healthy = { ok: true, exchanges: {}, store: { ok: true, lastError: null } }
    let health: unknown = { ...healthy, users: ['alice'], exchanges: { binance: { ...EXCHANGE, owner: 'alice' } } }
    const scheduler = new SyncScheduler({ store, exchanges: [recordingAdapter('binance', () => ({ balances: [] }))] })
    vi.spyOn(scheduler, 'health').mockImplementation(() => health as ReturnType<SyncScheduler['health']>)
    const errors: unknown[] = []
    const handler = createSyncHandler({ scheduler, store, resolveUser: () => 'alice', onError: (e) => errors.push(e) })
    const extra = await handler(new Request('http://api.test/health'))
    expect(await extra.json()).toEqual({ ...healthy, exchanges: { binance: EXCHANGE } })
    health = { ok: 'yes' }
    const broken = await handler(new Request('http://api.test/health'))
    expect(broken.status).toBe(500)
    expect(errors).toHaveLength(1)
  })

  it('refuses a scheduler without health(), naming the option', () => {
    const store = new MemoryStore()
    const scheduler = new SyncScheduler({ store, exchanges: [recordingAdapter('binance', () => ({ balances: [] }))] })
    const partial = {
      exchanges: scheduler.exchanges,
      syncNow: scheduler.syncNow.bind(scheduler),
      markActive: scheduler.markActive.bind(scheduler),
      on: scheduler.on.bind(scheduler),
      off: scheduler.off.bind(scheduler),
      verifyCredentials: scheduler.verifyCredentials.bind(scheduler),
    } as unknown as SyncHandlerOptions['scheduler']
    let caught: unknown
    try {
      createSyncHandler({ scheduler: partial, store, resolveUser: () => 'alice' })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InvalidOptionError)
    expect((caught as InvalidOptionError).field).toBe('scheduler')
    expect((caught as Error).message).toContain('health')
  })
})

describe('client.health()', () => {
  it('resolves with the health for 200 and for 503 alike', async () => {
    const { store, scheduler, handler } = await setup()
    const client = createSyncClient({
      baseUrl: 'http://api.test',
      fetch: (input, init) => handler(new Request(input, init)),
    })
    await scheduler.runOnce()
    expect(await client.health()).toEqual(scheduler.health())
    store.listDue = () => Promise.reject(new Error('store down'))
    await scheduler.runOnce()
    const failing = await client.health()
    expect(failing.ok).toBe(false)
    expect(failing.store.lastError?.message).toContain('store down')
  })

  it('rejects an answer outside the contract, and other statuses, with a SyncApiError', async () => {
    const outside = createSyncClient({
      baseUrl: '',
      fetch: async () => new Response(JSON.stringify({ ok: 'yes' }), { status: 200 }),
    })
    await expect(outside.health()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' })
    const refused = createSyncClient({ baseUrl: '', fetch: async () => new Response('', { status: 401 }) })
    await expect(refused.health()).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
  })
})
