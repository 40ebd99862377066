import { FakeClock, flushPromises, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it, vi } from 'vitest'
import {
  type Balance,
  createSyncHandler,
  type FetchBalancesRequest,
  InvalidOptionError,
  MemoryStore,
  SyncError,
  type SyncHandlerOptions,
  SyncScheduler,
} from '../index.js'

/** Realistic-length key material, long enough for the scrubber, unique enough to grep every response for. */
const ALICE_KEYS = { apiKey: 'AK-alice-7f3c9d2e1a55', secret: 'SK-alice-4b8e6f0c2d9a77', password: 'PP-alice-okx-31' }
const BOB_KEYS = { apiKey: 'AK-bob-0a1b2c3d4e5f', secret: 'SK-bob-9e8d7c6b5a4f' }
const SECRET_VALUES = [...Object.values(ALICE_KEYS), ...Object.values(BOB_KEYS)]

const BALANCES: Balance[] = [
  { asset: 'BTC', free: '0.5', used: '0.1', total: '0.6' },
  { asset: 'USDT', free: '100.25', used: '0', total: '100.25' },
]

/** An adapter that answers like an exchange: keys starting `bad` are refused, with the key in the message. */
function exchange(id: string, behave?: (request: FetchBalancesRequest) => unknown) {
  return recordingAdapter(id, async (request) => {
    const custom = await behave?.(request)
    if (custom !== undefined) return custom as { balances: Balance[] }
    const { apiKey, secret } = request.credentials
    if (apiKey.startsWith('bad'))
      throw new SyncError('AUTH_FAILED', `Invalid API-key ${apiKey} (signed with ${secret})`)
    return { balances: BALANCES }
  })
}

function setup(overrides: Partial<SyncHandlerOptions> = {}, behave?: (request: FetchBalancesRequest) => unknown) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const binance = exchange('binance', behave)
  const okx = exchange('okx')
  const exchanges = [binance, okx]
  const scheduler = new SyncScheduler({ store, exchanges, clock })
  const markActive = vi.spyOn(scheduler, 'markActive')
  const errors: unknown[] = []
  const handler = createSyncHandler({
    scheduler,
    store,
    resolveUser: (request) => request.headers.get('x-user'),
    clock,
    onError: (error) => errors.push(error),
    // Many tests add connections in a loop; the per-user limit has its own tests in httpHostile.test.ts.
    addConnectionLimit: 1_000,
    ...overrides,
  })
  /** Every response body text, to check that no secret ever leaves. */
  const bodies: string[] = []

  async function call(
    method: string,
    path: string,
    init: { user?: string | null; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ) {
    const { user = 'alice', body, headers = {}, signal } = init
    const request = new Request(`http://api.test${path}`, {
      method,
      headers: {
        ...(user !== null && { 'x-user': user }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      ...(signal && { signal }),
    })
    const response = await handler(request)
    const text = await response.text()
    bodies.push(text)
    return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined }
  }

  async function seed(userId: string, exchangeId = 'binance', label?: string) {
    return store.add({ userId, exchange: exchangeId, credentials: userId === 'bob' ? BOB_KEYS : ALICE_KEYS, label })
  }

  return { clock, store, scheduler, binance, okx, handler, call, seed, bodies, errors, markActive }
}

const newConnection = (overrides: Record<string, unknown> = {}) => ({
  exchange: 'binance',
  label: 'Main account',
  credentials: { apiKey: ALICE_KEYS.apiKey, secret: ALICE_KEYS.secret },
  ...overrides,
})

describe('routing', () => {
  it('answers 404 in JSON for unknown routes and 405 with Allow for a wrong method', async () => {
    const { call } = setup()
    const unknown = await call('GET', '/nope')
    expect(unknown.status).toBe(404)
    expect(unknown.json).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route.' } })
    expect((await call('GET', '/connections/a/b/c')).status).toBe(404)
    expect((await call('GET', '/connections//sync')).status).toBe(404)

    const wrong = await call('PATCH', '/connections')
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('Allow')).toBe('GET, POST')
    expect(wrong.json.error.code).toBe('METHOD_NOT_ALLOWED')
    expect((await call('GET', '/connections/x/credentials')).headers.get('Allow')).toBe('PUT')
    expect((await call('GET', '/connections/x/sync')).headers.get('Allow')).toBe('POST')
    expect((await call('POST', '/holdings')).headers.get('Allow')).toBe('GET')
  })

  it('serves its routes under basePath only, with or without a trailing slash', async () => {
    const { call, seed } = setup({ basePath: '/api/syncfolio' })
    await seed('alice')
    const inside = await call('GET', '/api/syncfolio/connections')
    expect(inside.status).toBe(200)
    expect(inside.json.connections).toHaveLength(1)
    expect((await call('GET', '/api/syncfolio/connections/')).status).toBe(200)
    expect((await call('GET', '/connections')).status).toBe(404)
    expect((await call('GET', '/api/syncfolioX/connections')).status).toBe(404)
    expect((await call('GET', '/api/syncfolio')).status).toBe(404)
  })

  it('validates its options once, naming the field and the value', () => {
    const { scheduler, store, binance } = setup()
    const base = { scheduler, store, resolveUser: () => 'alice' }
    const invalid = (options: Record<string, unknown>) => {
      try {
        createSyncHandler({ ...base, ...options } as SyncHandlerOptions)
      } catch (error) {
        return error
      }
      throw new Error('expected createSyncHandler to throw')
    }
    const basePath = invalid({ basePath: 'api/' }) as InvalidOptionError
    expect(basePath).toBeInstanceOf(InvalidOptionError)
    expect(basePath.field).toBe('basePath')
    expect(basePath.message).toContain('"api/"')
    expect((invalid({ maxBodyBytes: 0 }) as InvalidOptionError).field).toBe('maxBodyBytes')
    expect((invalid({ resolveUser: 'alice' }) as InvalidOptionError).field).toBe('resolveUser')
    expect((invalid({ scheduler: {} }) as InvalidOptionError).field).toBe('scheduler')
    expect((invalid({ exchanges: [binance] }) as InvalidOptionError).message).toContain('exchanges')
    expect((invalid({ store: {} }) as InvalidOptionError).field).toBe('store')
    expect((invalid({ heartbeat: 5 }) as InvalidOptionError).message).toContain('heartbeat')
  })
})

describe('users', () => {
  const everyRoute: Array<[string, string]> = [
    ['GET', '/exchanges'],
    ['GET', '/connections'],
    ['POST', '/connections'],
    ['GET', '/connections/ID'],
    ['DELETE', '/connections/ID'],
    ['PUT', '/connections/ID/credentials'],
    ['POST', '/connections/ID/sync'],
    ['GET', '/holdings'],
    ['GET', '/events'],
  ]

  it('answers 401 on every route without a user, before reading a body or touching anything', async () => {
    const { handler, seed, store, binance, markActive } = setup()
    const connection = await seed('alice')
    for (const [method, template] of everyRoute) {
      let pulled = 0
      const body =
        method === 'POST' || method === 'PUT'
          ? new ReadableStream<Uint8Array>(
              {
                pull(controller) {
                  pulled++
                  controller.enqueue(new TextEncoder().encode(JSON.stringify(newConnection())))
                  controller.close()
                },
              },
              { highWaterMark: 0 },
            )
          : null
      const response = await handler(
        new Request(`http://api.test${template.replace('ID', connection.id)}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body,
          ...(body && { duplex: 'half' }),
        } as RequestInit),
      )
      expect(response.status, `${method} ${template}`).toBe(401)
      expect(await response.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Sign in to use this API.' } })
      expect(pulled, `${method} ${template} read the body`).toBe(0)
    }
    expect(markActive).not.toHaveBeenCalled()
    expect(binance.calls).toHaveLength(0)
    expect(await store.get(connection.id)).toMatchObject({ status: 'active', lastSyncAt: null })
    expect(await store.listByUser('alice')).toHaveLength(1)
  })

  it('treats an empty user id as no user, and accepts an async resolveUser', async () => {
    const empty = setup({ resolveUser: () => '' })
    expect((await empty.call('GET', '/connections')).status).toBe(401)
    const async = setup({ resolveUser: async (request) => request.headers.get('x-user') })
    expect((await async.call('GET', '/connections')).status).toBe(200)
  })

  it('answers 500 without details when resolveUser throws, and reports the error', async () => {
    const failure = new Error('session store down at 10.0.0.7')
    const { call, errors } = setup({
      resolveUser: () => {
        throw failure
      },
    })
    const response = await call('GET', '/connections')
    expect(response.status).toBe(500)
    expect(response.json).toEqual({ error: { code: 'INTERNAL', message: expect.any(String) } })
    expect(response.text).not.toContain('10.0.0.7')
    expect(errors).toEqual([failure])
  })

  it("answers another user's connection exactly like a missing one, and changes nothing", async () => {
    const { call, seed, store, binance } = setup()
    const bobs = await seed('bob')
    const routes: Array<[string, string, unknown?]> = [
      ['GET', `/connections/${bobs.id}`],
      ['DELETE', `/connections/${bobs.id}`],
      ['PUT', `/connections/${bobs.id}/credentials`, { credentials: ALICE_KEYS }],
      ['POST', `/connections/${bobs.id}/sync`],
      ['GET', `/holdings?connectionIds=${bobs.id}`],
    ]
    for (const [method, path, body] of routes) {
      const theirs = await call(method, path, { body })
      const missing = await call(method, path.replace(bobs.id, 'no-such-id'), { body })
      expect(theirs.status, `${method} ${path}`).toBe(404)
      expect(theirs.text).toBe(missing.text)
      expect([...theirs.headers]).toEqual([...missing.headers])
    }
    expect(await store.get(bobs.id)).toMatchObject({ userId: 'bob', status: 'active', lastSyncAt: null })
    expect(await store.getCredentials(bobs.id)).toEqual(BOB_KEYS)
    expect(binance.calls).toHaveLength(0)
  })
})

describe('reads', () => {
  it("lists only the user's connections, without credentials or user id", async () => {
    const { call, seed, clock } = setup()
    const first = await seed('alice', 'binance', 'Main')
    const second = await seed('alice', 'okx')
    await seed('bob')
    const response = await call('GET', '/connections')
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toBe('application/json; charset=utf-8')
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(response.json).toEqual({
      connections: [
        {
          id: first.id,
          exchange: 'binance',
          label: 'Main',
          status: 'active',
          lastSyncAt: null,
          lastAttemptAt: null,
          nextSyncAt: null,
          failureCount: 0,
          lastError: null,
        },
        expect.objectContaining({ id: second.id, exchange: 'okx', label: null }),
      ],
    })
    expect(clock.now()).toBeGreaterThan(0)
  })

  it('never lets a field a custom store adds reach the response', async () => {
    const { call, seed, store } = setup()
    const connection = await seed('alice')
    const leaky = { ...(await store.get(connection.id)), credentials: ALICE_KEYS, internalNote: 'x' }
    vi.spyOn(store, 'get').mockResolvedValue(leaky as never)
    vi.spyOn(store, 'listByUser').mockResolvedValue([leaky as never])
    for (const path of ['/connections', `/connections/${connection.id}`]) {
      const response = await call('GET', path)
      expect(response.status).toBe(200)
      expect(response.text).not.toContain('internalNote')
      expect(response.text).not.toContain('credentials')
      for (const secret of SECRET_VALUES) expect(response.text).not.toContain(secret)
    }
  })

  it('shows one connection with its balances', async () => {
    const { call, seed, scheduler } = setup()
    const connection = await seed('alice')
    const before = await call('GET', `/connections/${connection.id}`)
    expect(before.json).toEqual({ connection: expect.objectContaining({ id: connection.id }), balances: [] })
    await scheduler.syncNow(connection.id)
    const after = await call('GET', `/connections/${connection.id}`)
    expect(after.json.balances).toEqual(BALANCES)
    expect(after.json.connection.lastSyncAt).toEqual(expect.any(Number))
  })

  it('lists the configured exchanges', async () => {
    const { call } = setup()
    expect((await call('GET', '/exchanges')).json).toEqual({ exchanges: ['binance', 'okx'] })
  })

  it('marks the user active on every read and manual sync, and not without a user', async () => {
    const { call, seed, scheduler, markActive } = setup()
    const connection = await seed('alice')
    // The real syncNow marks the user itself; stub it so only the handler's own call is counted.
    vi.spyOn(scheduler, 'syncNow').mockResolvedValue({ ok: true, connectionId: connection.id, balances: [] })
    await call('GET', '/connections', { user: null })
    await call('POST', `/connections/${connection.id}/sync`, { user: null })
    expect(markActive).not.toHaveBeenCalled()
    const reads: Array<[string, string]> = [
      ['GET', '/connections'],
      ['GET', `/connections/${connection.id}`],
      ['GET', '/holdings'],
      ['POST', `/connections/${connection.id}/sync`],
      ['POST', `/connections/${connection.id}/sync`], // throttled: still the user looking
    ]
    for (const [method, path] of reads) {
      markActive.mockClear()
      await call(method, path)
      expect(markActive, `${method} ${path}`).toHaveBeenCalledExactlyOnceWith('alice')
    }
  })
})

describe('GET /holdings', () => {
  async function withBalances() {
    const context = setup()
    const { seed, store, clock } = context
    const a = await seed('alice', 'binance')
    const b = await seed('alice', 'okx')
    const c = await seed('alice', 'binance')
    const bobs = await seed('bob')
    const record = async (id: string, balances: Balance[]) => {
      const now = clock.now()
      await store.recordSuccess(id, { balances, startedAt: now, finishedAt: now, nextSyncAt: now + 60_000 })
    }
    await record(a.id, [
      { asset: 'BTC', free: '98765432.12345678', used: '0', total: '98765432.12345678' },
      { asset: 'USDT', free: '0.1', used: '0', total: '0.1' },
    ])
    const oldest = clock.now()
    await clock.advance(5_000)
    await record(b.id, [
      { asset: 'BTC', free: '0.00000002', used: '1', total: '1.00000002' },
      { asset: 'USDT', free: '0.2', used: '0', total: '0.2' },
      { asset: 'ETH', free: '3', used: '0', total: '3' },
    ])
    await clock.advance(5_000)
    await record(c.id, [{ asset: 'USDT', free: '-0.3', used: '0', total: '-0.3' }])
    await record(bobs.id, [{ asset: 'BTC', free: '1000', used: '0', total: '1000' }])
    return { ...context, a, b, c, bobs, oldest }
  }

  it('sums decimal strings exactly by asset, with asOf the oldest lastSyncAt', async () => {
    const { call, a, b, c, oldest } = await withBalances()
    const response = await call('GET', '/holdings')
    expect(response.json).toEqual({
      holdings: [
        { asset: 'BTC', free: '98765432.12345680', used: '1', total: '98765433.12345680' },
        { asset: 'ETH', free: '3', used: '0', total: '3' },
        { asset: 'USDT', free: '0.0', used: '0', total: '0.0' },
      ],
      asOf: oldest,
      connectionIds: [a.id, b.id, c.id],
    })
  })

  it('sums only the connections asked for, comma-separated or repeated, and [] selects none', async () => {
    const { call, a, b, c, oldest } = await withBalances()
    const two = await call('GET', `/holdings?connectionIds=${b.id},${c.id}`)
    expect(two.json.connectionIds).toEqual([b.id, c.id])
    expect(two.json.asOf).toBe(oldest + 5_000)
    expect(two.json.holdings).toContainEqual({ asset: 'USDT', free: '-0.1', used: '0', total: '-0.1' })
    const repeated = await call('GET', `/holdings?connectionIds=${a.id}&connectionIds=${a.id},${c.id}`)
    expect(repeated.json.connectionIds).toEqual([a.id, c.id])
    const none = await call('GET', '/holdings?connectionIds=')
    expect(none.json).toEqual({ holdings: [], asOf: null, connectionIds: [] })
  })

  it('has no asOf while a selected connection has never synced', async () => {
    const { call, seed, a } = await withBalances()
    const fresh = await seed('alice')
    expect((await call('GET', '/holdings')).json.asOf).toBeNull()
    expect((await call('GET', `/holdings?connectionIds=${a.id}`)).json.asOf).not.toBeNull()
    expect((await call('GET', `/holdings?connectionIds=${fresh.id}`)).json).toMatchObject({ holdings: [], asOf: null })
  })

  it("refuses another user's id and too many ids", async () => {
    const { call, a, bobs } = await withBalances()
    const theirs = await call('GET', `/holdings?connectionIds=${a.id},${bobs.id}`)
    expect(theirs.status).toBe(404)
    expect(theirs.text).not.toContain('1000')
    const many = Array.from({ length: 201 }, (_, index) => `id${index}`).join(',')
    const tooMany = await call('GET', `/holdings?connectionIds=${many}`)
    expect(tooMany.status).toBe(400)
    expect(tooMany.json.error).toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: ['connectionIds'] }] })
  })
})

describe('POST /connections', () => {
  it('test-fetches the keys, stores them and answers 201 with the connection, never the keys', async () => {
    const { call, store, binance, markActive } = setup()
    const response = await call('POST', '/connections', { body: newConnection() })
    expect(response.status).toBe(201)
    expect(response.json).toEqual({
      connection: expect.objectContaining({ exchange: 'binance', label: 'Main account', status: 'active' }),
    })
    expect(Object.keys(response.json.connection).sort()).toEqual([
      'exchange',
      'failureCount',
      'id',
      'label',
      'lastAttemptAt',
      'lastError',
      'lastSyncAt',
      'nextSyncAt',
      'status',
    ])
    for (const secret of SECRET_VALUES) expect(response.text).not.toContain(secret)
    expect(binance.calls).toEqual([expect.objectContaining({ apiKey: ALICE_KEYS.apiKey })])
    const [stored] = await store.listByUser('alice')
    expect(stored?.id).toBe(response.json.connection.id)
    expect(await store.getCredentials(response.json.connection.id)).toEqual({
      apiKey: ALICE_KEYS.apiKey,
      secret: ALICE_KEYS.secret,
    })
    expect(markActive).toHaveBeenCalledWith('alice')
  })

  it('keeps the passphrase and uid, and trims pasted whitespace around keys', async () => {
    const { call, store } = setup()
    const credentials = { apiKey: ` ${ALICE_KEYS.apiKey}\n`, secret: ALICE_KEYS.secret, password: ALICE_KEYS.password }
    const response = await call('POST', '/connections', { body: { exchange: 'okx', credentials } })
    expect(response.status).toBe(201)
    expect(response.json.connection.label).toBeNull()
    expect(await store.getCredentials(response.json.connection.id)).toEqual({
      apiKey: ALICE_KEYS.apiKey,
      secret: ALICE_KEYS.secret,
      password: ALICE_KEYS.password,
    })
    expect(response.text).not.toContain(ALICE_KEYS.password)
  })

  it('refuses an exchange the server does not sync, before calling anything', async () => {
    const { call, store, binance, okx } = setup()
    for (const exchangeId of ['kraken', '', 'BINANCE', '__proto__', 'x'.repeat(65)]) {
      const response = await call('POST', '/connections', { body: newConnection({ exchange: exchangeId }) })
      expect(response.status, exchangeId).toBe(400)
      expect(response.json.error.code).toBe('VALIDATION_FAILED')
      expect(response.json.error.issues).toEqual([expect.objectContaining({ path: ['exchange'] })])
    }
    expect(binance.calls.length + okx.calls.length).toBe(0)
    expect(await store.listByUser('alice')).toEqual([])
  })

  it('answers 422 when the exchange refuses the keys, stores nothing and scrubs the keys from the message', async () => {
    const { call, store } = setup()
    const credentials = { apiKey: `bad-${ALICE_KEYS.apiKey}`, secret: ALICE_KEYS.secret }
    const response = await call('POST', '/connections', { body: newConnection({ credentials }) })
    expect(response.status).toBe(422)
    expect(response.json.error).toMatchObject({ code: 'CREDENTIALS_REJECTED', reason: 'AUTH_FAILED' })
    expect(response.json.error.message).toContain('Invalid API-key')
    expect(response.text).not.toContain(ALICE_KEYS.apiKey)
    expect(response.text).not.toContain(ALICE_KEYS.secret)
    expect(await store.listByUser('alice')).toEqual([])
  })

  it('answers 502 with the reason when the exchange cannot tell, and stores nothing', async () => {
    const { call, store } = setup({}, () => {
      throw new SyncError('RATE_LIMITED', 'Too many requests', { retryAfterMs: 2_500, scope: 'exchange' })
    })
    const limited = await call('POST', '/connections', { body: newConnection() })
    expect(limited.status).toBe(502)
    expect(limited.json.error).toMatchObject({ code: 'EXCHANGE_ERROR', reason: 'RATE_LIMITED', retryAfterMs: 2_500 })
    expect(limited.headers.get('Retry-After')).toBe('3')

    const garbage = setup({}, () => ({ balances: [{ asset: 'BTC', free: 0.1, used: '0', total: '0.1' }] }))
    const invalid = await garbage.call('POST', '/connections', { body: newConnection() })
    expect(invalid.status).toBe(502)
    expect(invalid.json.error.reason).toBe('INVALID_RESPONSE')

    const thrower = setup({}, () => {
      throw new TypeError(`fetch failed for key ${ALICE_KEYS.apiKey}`)
    })
    const unknown = await thrower.call('POST', '/connections', { body: newConnection() })
    expect(unknown.json.error.reason).toBe('UNKNOWN')
    expect(unknown.text).not.toContain(ALICE_KEYS.apiKey)

    for (const context of [{ store }, garbage, thrower]) expect(await context.store.listByUser('alice')).toEqual([])
  })

  it('aborts a hanging test-fetch at verifyTimeoutMs and stores nothing', async () => {
    const { handler, clock, store, binance } = setup({ verifyTimeoutMs: 5_000 }, () => new Promise(() => undefined))
    const pending = handler(
      new Request('http://api.test/connections', {
        method: 'POST',
        headers: { 'x-user': 'alice', 'content-type': 'application/json' },
        body: JSON.stringify(newConnection()),
      }),
    )
    await clock.advance(4_999)
    expect(binance.calls[0]?.signal.aborted).toBe(false)
    await clock.advance(1)
    const response = await pending
    expect(response.status).toBe(502)
    expect((await response.json()).error.reason).toBe('TIMEOUT')
    expect(binance.calls[0]?.signal.aborted).toBe(true)
    expect(clock.pending).toBe(0)
    expect(await store.listByUser('alice')).toEqual([])
  })

  it('stores nothing when the client goes away during the test-fetch', async () => {
    const { handler, store, binance } = setup({}, () => new Promise(() => undefined))
    const controller = new AbortController()
    const pending = handler(
      new Request('http://api.test/connections', {
        method: 'POST',
        headers: { 'x-user': 'alice', 'content-type': 'application/json' },
        body: JSON.stringify(newConnection()),
        signal: controller.signal,
      }),
    )
    await flushPromises()
    controller.abort()
    await pending
    expect(binance.calls[0]?.signal.aborted).toBe(true)
    expect(await store.listByUser('alice')).toEqual([])
  })
})

describe('request bodies', () => {
  async function expectNothingStored(context: ReturnType<typeof setup>) {
    expect(await context.store.listByUser('alice')).toEqual([])
    expect(context.binance.calls.length + context.okx.calls.length).toBe(0)
  }

  it('answers 400 for malformed JSON without echoing any of it', async () => {
    const context = setup()
    const bodies = [
      `{"exchange":"binance","credentials":{"apiKey":"${ALICE_KEYS.apiKey}","secret":"${ALICE_KEYS.secret}"`,
      `{'apiKey': '${ALICE_KEYS.apiKey}'}`,
      `${ALICE_KEYS.secret}`,
      '',
      '   ',
      '['.repeat(16_000),
    ]
    for (const body of bodies) {
      const response = await context.call('POST', '/connections', { body })
      expect(response.status, body.slice(0, 20)).toBe(400)
      expect(response.json.error.code).toBe('INVALID_JSON')
      for (const secret of SECRET_VALUES) expect(response.text).not.toContain(secret)
    }
    await expectNothingStored(context)
  })

  it('answers 400 for bytes that are not UTF-8', async () => {
    const context = setup()
    const response = await context.handler(
      new Request('http://api.test/connections', {
        method: 'POST',
        headers: { 'x-user': 'alice', 'content-type': 'application/json' },
        body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      }),
    )
    expect(response.status).toBe(400)
    expect((await response.json()).error.code).toBe('INVALID_JSON')
    await expectNothingStored(context)
  })

  it('answers 400 with issues (paths and messages, never values) for wrong shapes and types', async () => {
    const context = setup()
    const cases: Array<[unknown, Array<Array<string | number>>]> = [
      [null, [[]]],
      [[newConnection()], [[]]],
      [42, [[]]],
      [{ ...newConnection(), exchange: 5 }, [['exchange']]],
      [{ ...newConnection(), credentials: ALICE_KEYS.secret }, [['credentials']]],
      [
        { ...newConnection(), credentials: { apiKey: 123, secret: [ALICE_KEYS.secret] } },
        [
          ['credentials', 'apiKey'],
          ['credentials', 'secret'],
        ],
      ],
      [{ ...newConnection(), credentials: { apiKey: ALICE_KEYS.apiKey } }, [['credentials', 'secret']]],
      [{ ...newConnection(), credentials: { apiKey: '  ', secret: ALICE_KEYS.secret } }, [['credentials', 'apiKey']]],
      [
        { ...newConnection(), credentials: { apiKey: 'k'.repeat(513), secret: ALICE_KEYS.secret } },
        [['credentials', 'apiKey']],
      ],
      [{ ...newConnection(), label: 'l'.repeat(101) }, [['label']]],
      [{ ...newConnection(), userId: 'bob' }, [[]]],
      [{ ...newConnection(), credentials: { ...ALICE_KEYS, passphrase: ALICE_KEYS.password } }, [['credentials']]],
    ]
    for (const [body, paths] of cases) {
      const response = await context.call('POST', '/connections', { body })
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.json.error.code).toBe('VALIDATION_FAILED')
      expect(response.json.error.issues.map((issue: { path: unknown }) => issue.path)).toEqual(paths)
      for (const secret of SECRET_VALUES) expect(response.text).not.toContain(secret)
    }
    await expectNothingStored(context)
  })

  it('refuses a __proto__ key instead of letting it through', async () => {
    const context = setup()
    const body = `{"exchange":"binance","credentials":{"apiKey":"k-123456","secret":"s-123456"},"__proto__":{"userId":"bob"}}`
    const response = await context.call('POST', '/connections', { body })
    expect(response.status).toBe(400)
    expect(response.json.error.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: [] })
    await expectNothingStored(context)
  })

  it('answers 415 for a body that is not application/json in UTF-8', async () => {
    const context = setup()
    const json = JSON.stringify(newConnection())
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', '']) {
      const response = await context.call('POST', '/connections', { body: json, headers: { 'content-type': type } })
      expect(response.status, type).toBe(415)
      expect(response.json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    }
    await expectNothingStored(context)
    const upper = await context.call('POST', '/connections', {
      body: json,
      headers: { 'content-type': 'Application/JSON; charset="UTF-8"' },
    })
    expect(upper.status).toBe(201)
  })

  it('answers 413 for a declared size over the limit without reading the body', async () => {
    const context = setup({ maxBodyBytes: 1_024 })
    let pulled = 0
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled++
          controller.enqueue(new Uint8Array(512))
        },
      },
      { highWaterMark: 0 },
    )
    const response = await context.handler(
      new Request('http://api.test/connections', {
        method: 'POST',
        headers: { 'x-user': 'alice', 'content-type': 'application/json', 'content-length': '1000000' },
        body,
        duplex: 'half',
      } as RequestInit),
    )
    expect(response.status).toBe(413)
    expect((await response.json()).error.code).toBe('PAYLOAD_TOO_LARGE')
    expect(pulled).toBe(0)
    await expectNothingStored(context)
  })

  it('cuts off an endless or understated body as soon as it passes the limit', async () => {
    const context = setup({ maxBodyBytes: 4_096 })
    for (const declared of [undefined, '100']) {
      let pulled = 0
      let cancelled = false
      const endless = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            pulled++
            controller.enqueue(new TextEncoder().encode(`{"pad":"${'x'.repeat(1_000)}",`))
          },
          cancel() {
            cancelled = true
          },
        },
        { highWaterMark: 0 },
      )
      const response = await context.handler(
        new Request('http://api.test/connections', {
          method: 'POST',
          headers: {
            'x-user': 'alice',
            'content-type': 'application/json',
            ...(declared && { 'content-length': declared }),
          },
          body: endless,
          duplex: 'half',
        } as RequestInit),
      )
      expect(response.status).toBe(413)
      expect(pulled).toBe(5) // 5 chunks of 1_010 bytes is the first count past 4_096
      expect(cancelled).toBe(true)
    }
    await expectNothingStored(context)
  })

  it('accepts a body exactly at the limit', async () => {
    const json = JSON.stringify(newConnection())
    const context = setup({ maxBodyBytes: new TextEncoder().encode(json).byteLength })
    expect((await context.call('POST', '/connections', { body: json })).status).toBe(201)
    const smaller = setup({ maxBodyBytes: new TextEncoder().encode(json).byteLength - 1 })
    expect((await smaller.call('POST', '/connections', { body: json })).status).toBe(413)
  })
})

describe('PUT /connections/:id/credentials', () => {
  it('reconnects a disabled connection with checked keys', async () => {
    const { call, seed, store, clock, binance } = setup()
    const connection = await seed('alice')
    const now = clock.now()
    await store.recordFailure(connection.id, {
      error: { code: 'AUTH_FAILED', message: 'revoked' },
      startedAt: now,
      finishedAt: now,
      nextSyncAt: now + 60_000,
      disable: true,
    })
    const fresh = { apiKey: 'AK-alice-new-0123456', secret: 'SK-alice-new-6543210' }
    const response = await call('PUT', `/connections/${connection.id}/credentials`, { body: { credentials: fresh } })
    expect(response.status).toBe(200)
    expect(response.json.connection).toMatchObject({ id: connection.id, status: 'active', lastError: null })
    expect(response.text).not.toContain(fresh.apiKey)
    expect(response.text).not.toContain(fresh.secret)
    expect(binance.calls).toEqual([expect.objectContaining({ connectionId: connection.id, apiKey: fresh.apiKey })])
    expect(await store.getCredentials(connection.id)).toEqual(fresh)
  })

  it('keeps the old keys and status when the new ones are refused', async () => {
    const { call, seed, store } = setup()
    const connection = await seed('alice')
    const response = await call('PUT', `/connections/${connection.id}/credentials`, {
      body: { credentials: { apiKey: 'bad-key-123456', secret: 'bad-secret-123456' } },
    })
    expect(response.status).toBe(422)
    expect(response.text).not.toContain('bad-secret-123456')
    expect(await store.getCredentials(connection.id)).toEqual(ALICE_KEYS)
  })

  it('checks the owner before the body, and validates the body like POST', async () => {
    const { call, seed } = setup()
    const bobs = await seed('bob')
    const mine = await seed('alice')
    const theirs = await call('PUT', `/connections/${bobs.id}/credentials`, {
      body: 'not json',
      headers: { 'content-type': 'text/plain' },
    })
    expect(theirs.status).toBe(404)
    const invalid = await call('PUT', `/connections/${mine.id}/credentials`, { body: { apiKey: 'k', secret: 's' } })
    expect(invalid.status).toBe(400)
  })

  it('answers 409 when the connection exchange has no adapter any more', async () => {
    const { call, store } = setup()
    const orphan = await store.add({ userId: 'alice', exchange: 'kraken', credentials: ALICE_KEYS })
    const response = await call('PUT', `/connections/${orphan.id}/credentials`, { body: { credentials: BOB_KEYS } })
    expect(response.status).toBe(409)
    expect(response.json.error.code).toBe('EXCHANGE_NOT_CONFIGURED')
    expect(await store.getCredentials(orphan.id)).toEqual(ALICE_KEYS)
  })
})

describe('DELETE /connections/:id', () => {
  it('removes the connection with 204, then 404', async () => {
    const { call, seed, store } = setup()
    const connection = await seed('alice')
    const removed = await call('DELETE', `/connections/${connection.id}`)
    expect(removed.status).toBe(204)
    expect(removed.text).toBe('')
    expect(await store.get(connection.id)).toBeNull()
    expect((await call('DELETE', `/connections/${connection.id}`)).status).toBe(404)
  })

  it('decodes ids and answers 404 for ids that cannot be one', async () => {
    const { call, store } = setup()
    const odd = await store.add({ userId: 'alice', exchange: 'binance', credentials: ALICE_KEYS })
    vi.spyOn(store, 'get')
    expect((await call('GET', `/connections/${encodeURIComponent(odd.id)}`)).status).toBe(200)
    expect((await call('GET', '/connections/%E0%A4%A')).status).toBe(404)
    expect((await call('GET', `/connections/${'x'.repeat(257)}`)).status).toBe(404)
    expect(store.get).toHaveBeenCalledTimes(1)
  })
})

describe('POST /connections/:id/sync', () => {
  it('syncs now and answers with the outcome and the re-read connection', async () => {
    const { call, seed, clock } = setup()
    const connection = await seed('alice')
    const response = await call('POST', `/connections/${connection.id}/sync`)
    expect(response.status).toBe(200)
    expect(response.json).toEqual({
      outcome: 'success',
      connection: expect.objectContaining({ id: connection.id, lastSyncAt: clock.now(), status: 'active' }),
      balances: BALANCES,
    })
  })

  it('throttles per connection by the time since the last accepted request; the first is never throttled', async () => {
    const { call, seed, clock, binance } = setup({ manualSyncIntervalMs: 15_000 })
    const connection = await seed('alice')
    const other = await seed('alice')
    const path = `/connections/${connection.id}/sync`
    expect((await call('POST', path)).status).toBe(200)

    const again = await call('POST', path)
    expect(again.status).toBe(429)
    expect(again.headers.get('Retry-After')).toBe('15')
    expect(again.json.error).toMatchObject({ code: 'SYNC_THROTTLED', retryAfterMs: 15_000 })

    await clock.advance(10_000)
    const later = await call('POST', path)
    expect(later.status).toBe(429)
    expect(later.json.error.retryAfterMs).toBe(5_000)
    expect(later.headers.get('Retry-After')).toBe('5')
    expect((await call('POST', `/connections/${other.id}/sync`)).status).toBe(200)

    await clock.advance(4_999)
    expect((await call('POST', path)).status).toBe(429)
    await clock.advance(1)
    expect((await call('POST', path)).status).toBe(200)
    expect(binance.calls.map((entry) => entry.connectionId)).toEqual([connection.id, other.id, connection.id])
  })

  it('answers a failed sync as outcome failure, without secrets', async () => {
    const { call, store, binance } = setup()
    const connection = await store.add({
      userId: 'alice',
      exchange: 'binance',
      credentials: { apiKey: `bad-${ALICE_KEYS.apiKey}`, secret: ALICE_KEYS.secret },
    })
    const response = await call('POST', `/connections/${connection.id}/sync`)
    expect(response.status).toBe(200)
    expect(response.json).toMatchObject({
      outcome: 'failure',
      connection: { status: 'error', failureCount: 1, lastError: { code: 'AUTH_FAILED' } },
      error: { code: 'AUTH_FAILED' },
    })
    expect(response.text).not.toContain(ALICE_KEYS.apiKey)
    expect(response.text).not.toContain(ALICE_KEYS.secret)
    expect(binance.calls).toHaveLength(1)
  })

  it('answers 202 pending when the sync outlasts syncWaitMs, and the sync still completes', async () => {
    let release: () => void = () => undefined
    const context = setup({ syncWaitMs: 2_000 }, () => new Promise<void>((resolve) => (release = resolve)))
    const connection = await context.seed('alice')
    const pending = context.call('POST', `/connections/${connection.id}/sync`)
    await context.clock.advance(2_000)
    const response = await pending
    expect(response.status).toBe(202)
    expect(response.json).toEqual({ outcome: 'pending', connection: expect.objectContaining({ lastSyncAt: null }) })
    release()
    await flushPromises()
    await flushPromises()
    expect((await context.store.get(connection.id))?.lastSyncAt).toEqual(expect.any(Number))
  })

  it('answers 404 when the connection disappears before the sync starts', async () => {
    const { call, seed, scheduler, store } = setup()
    const connection = await seed('alice')
    vi.spyOn(scheduler, 'syncNow').mockImplementation(async (id) => {
      await store.remove(id)
      throw new SyncError('UNKNOWN', `Unknown connection "${id}".`)
    })
    expect((await call('POST', `/connections/${connection.id}/sync`)).status).toBe(404)
  })
})

describe('failures', () => {
  it('answers 500 without details when the store fails, and reports the error', async () => {
    const { call, store, errors } = setup()
    const failure = new Error('connect ECONNREFUSED 10.1.2.3:5432')
    vi.spyOn(store, 'listByUser').mockRejectedValue(failure)
    const response = await call('GET', '/connections')
    expect(response.status).toBe(500)
    expect(response.json.error.code).toBe('INTERNAL')
    expect(response.text).not.toContain('10.1.2.3')
    expect(errors).toEqual([failure])
  })

  it('still answers when onError itself throws', async () => {
    const { call, store } = setup({
      onError: () => {
        throw new Error('logger down')
      },
    })
    vi.spyOn(store, 'listByUser').mockRejectedValue(new Error('down'))
    expect((await call('GET', '/connections')).status).toBe(500)
  })
})

it('never sends a key, secret or passphrase in any response of a whole session', async () => {
  const { call, bodies, seed } = setup()
  const bobs = await seed('bob')
  const added = await call('POST', '/connections', {
    body: { exchange: 'okx', label: 'Trading', credentials: ALICE_KEYS },
  })
  const id = added.json.connection.id
  await call('POST', '/connections', {
    body: { exchange: 'okx', credentials: { ...ALICE_KEYS, apiKey: `bad${ALICE_KEYS.apiKey}` } },
  })
  await call('POST', '/connections', { body: `{"credentials":${JSON.stringify(ALICE_KEYS)}` })
  await call('POST', '/connections', { body: { exchange: ALICE_KEYS.secret, credentials: ALICE_KEYS } })
  await call('GET', '/connections')
  await call('GET', `/connections/${id}`)
  await call('POST', `/connections/${id}/sync`)
  await call('POST', `/connections/${id}/sync`)
  await call('GET', '/holdings')
  await call('GET', `/connections/${bobs.id}`)
  await call('PUT', `/connections/${id}/credentials`, { body: { credentials: BOB_KEYS } })
  await call('PUT', `/connections/${id}/credentials`, { body: { credentials: { apiKey: BOB_KEYS.secret } } })
  await call('DELETE', `/connections/${id}`)
  expect(bodies.length).toBe(13)
  for (const body of bodies) for (const secret of SECRET_VALUES) expect(body).not.toContain(secret)
})
