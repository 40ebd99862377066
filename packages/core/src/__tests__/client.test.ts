import { FakeClock, flushPromises, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, expectTypeOf, it, vi } from 'vitest'
import {
  type ConnectionView,
  createSyncClient,
  isSyncApiError,
  parseSyncEvent,
  readServerSentEvents,
  SyncApiError,
  type SyncEvent,
  type SyncNowResponse,
} from '../client/index.js'
import { createSyncHandler, InvalidOptionError, MemoryStore, SyncError, SyncScheduler } from '../index.js'

const KEYS = { apiKey: 'AK-client-1a2b3c4d5e', secret: 'SK-client-5e4d3c2b1a' }

/** The real handler under `/api/syncfolio`, reached through the client's `fetch` option: no network needed. */
function setup() {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const binance = recordingAdapter('binance', ({ credentials }) => {
    if (credentials.apiKey.startsWith('bad')) throw new SyncError('AUTH_FAILED', 'Invalid API-key')
    return { balances: [{ asset: 'BTC', free: '0.1', used: '0.2', total: '0.3' }] }
  })
  const scheduler = new SyncScheduler({ store, exchanges: [binance], clock })
  const handler = createSyncHandler({
    scheduler,
    store,
    basePath: '/api/syncfolio',
    resolveUser: (request) => request.headers.get('x-user'),
    clock,
  })
  const requests: Request[] = []
  let user: string | null = 'alice'
  const fetch = vi.fn(async (input: string, init: RequestInit) => {
    const request = new Request(new URL(input, 'http://app.test'), init)
    requests.push(request.clone())
    return handler(request)
  })
  const client = createSyncClient({
    baseUrl: '/api/syncfolio/',
    fetch,
    headers: (): Record<string, string> => (user === null ? {} : { 'x-user': user }),
  })
  return {
    clock,
    store,
    scheduler,
    binance,
    handler,
    client,
    fetch,
    requests,
    signIn: (next: string | null) => {
      user = next
    },
  }
}

async function rejection(promise: Promise<unknown>): Promise<SyncApiError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof SyncApiError) return error
    throw error
  }
  throw new Error('expected a rejection')
}

describe('createSyncClient against the real handler', () => {
  it('adds, lists, reads, syncs, sums, reconnects and removes, with typed answers', async () => {
    const { client, clock } = setup()
    expect(client.baseUrl).toBe('/api/syncfolio')
    expect(await client.listExchanges()).toEqual(['binance'])

    const added = await client.addConnection({ exchange: 'binance', label: 'Main', credentials: KEYS })
    expectTypeOf(added).toEqualTypeOf<ConnectionView>()
    expect(added).toMatchObject({ exchange: 'binance', label: 'Main', status: 'active', lastSyncAt: null })

    expect(await client.listConnections()).toEqual([added])
    expect(await client.getConnection(added.id)).toEqual({ connection: added, balances: [] })

    const synced = await client.syncNow(added.id)
    expectTypeOf(synced).toEqualTypeOf<SyncNowResponse>()
    expect(synced).toMatchObject({ outcome: 'success', connection: { lastSyncAt: clock.now() } })
    if (synced.outcome === 'success') expect(synced.balances).toHaveLength(1)

    expect(await client.getHoldings()).toEqual({
      holdings: [{ asset: 'BTC', free: '0.1', used: '0.2', total: '0.3' }],
      asOf: clock.now(),
      connectionIds: [added.id],
    })
    expect(await client.getHoldings({ connectionIds: [] })).toEqual({ holdings: [], asOf: null, connectionIds: [] })
    expect((await client.getHoldings({ connectionIds: [added.id] })).connectionIds).toEqual([added.id])

    const reconnected = await client.updateCredentials(added.id, { apiKey: 'AK-new-000000', secret: 'SK-new-000000' })
    expect(reconnected).toMatchObject({ id: added.id, status: 'active' })

    expect(await client.removeConnection(added.id)).toBeUndefined()
    expect(await client.listConnections()).toEqual([])
  })

  it('sends JSON with the headers option, resolved per request', async () => {
    const { client, requests, signIn } = setup()
    await client.addConnection({ exchange: 'binance', credentials: KEYS })
    const post = requests.at(-1) as Request
    expect(post.url).toBe('http://app.test/api/syncfolio/connections')
    expect(post.headers.get('content-type')).toBe('application/json')
    expect(post.headers.get('x-user')).toBe('alice')
    expect(await post.json()).toEqual({ exchange: 'binance', credentials: KEYS })
    signIn('bob')
    expect(await client.listConnections()).toEqual([])
    expect(requests.at(-1)?.headers.get('x-user')).toBe('bob')
  })

  it('rejects with SyncApiError carrying the server code, status, issues and retry time', async () => {
    const { client, signIn } = setup()
    const invalid = await rejection(client.addConnection({ exchange: 'kraken', credentials: KEYS }))
    expect(invalid).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', issues: [{ path: ['exchange'] }] })
    expect(isSyncApiError(invalid)).toBe(true)

    const rejected = await rejection(
      client.addConnection({ exchange: 'binance', credentials: { apiKey: 'bad-key-000', secret: 'x-secret-000' } }),
    )
    expect(rejected).toMatchObject({ status: 422, code: 'CREDENTIALS_REJECTED', reason: 'AUTH_FAILED' })

    const added = await client.addConnection({ exchange: 'binance', credentials: KEYS })
    await client.syncNow(added.id)
    const throttled = await rejection(client.syncNow(added.id))
    expect(throttled).toMatchObject({ status: 429, code: 'SYNC_THROTTLED', retryAfterMs: 15_000 })

    expect(await rejection(client.getConnection('no/such id'))).toMatchObject({ status: 404, code: 'NOT_FOUND' })
    signIn('bob')
    expect(await rejection(client.getConnection(added.id))).toMatchObject({ status: 404, code: 'NOT_FOUND' })
    signIn(null)
    expect(await rejection(client.listConnections())).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
  })

  it('encodes ids into the path', async () => {
    const { client, requests } = setup()
    await client.getConnection('a/b?c#d').catch(() => undefined)
    expect(requests.at(-1)?.url).toBe('http://app.test/api/syncfolio/connections/a%2Fb%3Fc%23d')
  })

  it('streams the user’s events over fetch, and stops quietly with its signal', async () => {
    const { client, scheduler, store } = setup()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const controller = new AbortController()
    const received: SyncEvent[] = []
    const off = vi.spyOn(scheduler, 'off')
    const done = (async () => {
      for await (const event of client.events({ signal: controller.signal })) received.push(event)
    })()
    await flushPromises()
    await scheduler.syncNow(connection.id)
    await flushPromises()
    expect(received.map((event) => event.type)).toEqual(['sync:start', 'sync:success'])
    expect(received[1]).toMatchObject({ connectionId: connection.id, exchange: 'binance', trigger: 'manual' })
    controller.abort()
    await done
    expect(off).toHaveBeenCalledTimes(4)
    expect(client.eventsUrl()).toBe('/api/syncfolio/events')
  })
})

describe('createSyncClient against a broken server', () => {
  const client = (fetch: (input: string, init: RequestInit) => Promise<Response>) =>
    createSyncClient({ baseUrl: 'https://app.example/api', fetch })

  it('rejects an answer outside the contract as INVALID_RESPONSE', async () => {
    const wrong = client(async () => Response.json({ connections: [{ id: 1, exchange: 'binance' }] }))
    const error = await rejection(wrong.listConnections())
    expect(error).toMatchObject({ status: 200, code: 'INVALID_RESPONSE' })
    expect(error.message).toContain('connections.0.id')
    const float = client(async () =>
      Response.json({
        holdings: [{ asset: 'BTC', free: 0.1, used: '0', total: '0.1' }],
        asOf: null,
        connectionIds: [],
      }),
    )
    expect(await rejection(float.getHoldings())).toMatchObject({ code: 'INVALID_RESPONSE' })
    const html = client(async () => new Response('<html>', { headers: { 'content-type': 'text/html' } }))
    expect(await rejection(html.listConnections())).toMatchObject({ code: 'INVALID_RESPONSE' })
  })

  it('keeps unknown fields of a newer server out of the result instead of failing', async () => {
    const newer = client(async () => Response.json({ exchanges: ['binance'], regions: ['eu'] }))
    expect(await newer.listExchanges()).toEqual(['binance'])
  })

  it('turns a non-syncfolio error page into HTTP_ERROR with the status and Retry-After', async () => {
    const proxy = client(
      async () => new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'Retry-After': '7' } }),
    )
    expect(await rejection(proxy.listConnections())).toMatchObject({
      status: 502,
      code: 'HTTP_ERROR',
      retryAfterMs: 7_000,
    })
  })

  it("maps 401 and 403 to UNAUTHORIZED and FORBIDDEN whatever the body, such as a Nest guard's", async () => {
    const guarded = (status: number, body: string, type = 'application/json') =>
      client(async () => new Response(body, { status, headers: { 'content-type': type } }))
    const nest401 = guarded(401, JSON.stringify({ statusCode: 401, message: 'Unauthorized' }))
    expect(await rejection(nest401.listConnections())).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    await expect(nest401.events().next()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    const nest403 = guarded(403, JSON.stringify({ statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' }))
    expect(await rejection(nest403.syncNow('c1'))).toMatchObject({ status: 403, code: 'FORBIDDEN' })
    expect(await rejection(guarded(401, '', 'text/plain').listConnections())).toMatchObject({ code: 'UNAUTHORIZED' })
    expect(await rejection(guarded(403, '<h1>No</h1>', 'text/html').listExchanges())).toMatchObject({
      code: 'FORBIDDEN',
    })
  })

  it('turns a failed fetch into NETWORK with status 0, and lets an abort through as it is', async () => {
    const offline = client(async () => {
      throw new TypeError('fetch failed')
    })
    const error = await rejection(offline.listConnections())
    expect(error).toMatchObject({ status: 0, code: 'NETWORK' })
    expect(error.cause).toBeInstanceOf(TypeError)

    const controller = new AbortController()
    const slow = client(
      (_input, init) =>
        new Promise((_, reject) => {
          const signal = init.signal as AbortSignal
          if (signal.aborted) reject(signal.reason)
          signal.addEventListener('abort', () => reject(signal.reason))
        }),
    )
    const pending = slow.listConnections({ signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    await expect(pending).rejects.not.toBeInstanceOf(SyncApiError)
  })

  it('uses globalThis.fetch at call time when no fetch is given', async () => {
    const spy = vi.spyOn(globalThis, 'fetch').mockResolvedValue(Response.json({ exchanges: ['okx'] }))
    try {
      const defaults = createSyncClient({ baseUrl: 'https://app.example/api' })
      expect(await defaults.listExchanges()).toEqual(['okx'])
      expect(spy).toHaveBeenCalledWith('https://app.example/api/exchanges', expect.objectContaining({ method: 'GET' }))
    } finally {
      spy.mockRestore()
    }
  })

  it('rejects events() from a server that does not stream', async () => {
    const json = client(async () => Response.json({}))
    await expect(json.events().next()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' })
    const unauthorized = client(async () =>
      Response.json({ error: { code: 'UNAUTHORIZED', message: 'Sign in' } }, { status: 401 }),
    )
    await expect(unauthorized.events().next()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
  })
})

describe('createSyncClient options', () => {
  it('are validated once, naming the field and the value', () => {
    const attempt = (options: unknown) => {
      try {
        createSyncClient(options as never)
      } catch (error) {
        return error as InvalidOptionError
      }
      throw new Error('expected createSyncClient to throw')
    }
    expect(attempt({ baseUrl: 5 })).toBeInstanceOf(InvalidOptionError)
    expect(attempt({ baseUrl: 5 }).field).toBe('baseUrl')
    expect(attempt({ baseUrl: '/api?x=1' }).message).toContain('"/api?x=1"')
    expect(attempt({ baseUrl: '/api', fetch: 'fetch' }).field).toBe('fetch')
    expect(attempt({ baseUrl: '/api', headers: 'x' }).field).toBe('headers')
    expect(attempt({ baseUrl: '/api', baseURL: '/x' }).message).toContain('baseURL')
    expect(attempt(null).field).toBe('(options)')
  })
})

describe('readServerSentEvents', () => {
  function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder()
    return new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
        controller.close()
      },
    })
  }
  async function all(stream: ReadableStream<Uint8Array>) {
    const events = []
    for await (const event of readServerSentEvents(stream)) events.push(event)
    return events
  }

  it('parses events as EventSource does', async () => {
    const events = await all(
      streamOf(
        '\uFEFFretry: 3000\n: connected\n\n',
        'event: sync:start\ndata: {"a":1}\n\n',
        'data:first\ndata: second\nid: 7\n\n',
        'event: empty\n\n',
        'event: x\r\ndata: crlf\r',
        '\n\r\n',
        'data: cr only\r\r',
        'data: unterminated',
      ),
    )
    expect(events).toEqual([
      { event: 'sync:start', data: '{"a":1}', id: '' },
      { event: 'message', data: 'first\nsecond', id: '7' },
      { event: 'x', data: 'crlf', id: '7' },
      { event: 'message', data: 'cr only', id: '7' },
    ])
  })

  it('joins a multi-byte character split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: €\n\n')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 7))
        controller.enqueue(bytes.slice(7))
        controller.close()
      },
    })
    expect(await all(stream)).toEqual([{ event: 'message', data: '€', id: '' }])
  })

  it('cancels the body when the consumer stops early', async () => {
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: tick\n\n'))
      },
      cancel() {
        cancelled = true
      },
    })
    for await (const event of readServerSentEvents(stream)) {
      expect(event.data).toBe('tick')
      break
    }
    expect(cancelled).toBe(true)
  })
})

describe('parseSyncEvent', () => {
  const event = { type: 'sync:start', connectionId: 'c1', exchange: 'binance', trigger: 'sweep', startedAt: 1 }

  it('parses a data string or a MessageEvent-like object', () => {
    expect(parseSyncEvent(JSON.stringify(event))).toEqual(event)
    expect(parseSyncEvent({ data: JSON.stringify(event) })).toEqual(event)
  })

  it('ignores unknown types, malformed data and wrong shapes', () => {
    expect(parseSyncEvent(JSON.stringify({ ...event, type: 'sync:later' }))).toBeNull()
    expect(parseSyncEvent('{not json')).toBeNull()
    expect(parseSyncEvent(JSON.stringify({ ...event, startedAt: 'now' }))).toBeNull()
    expect(parseSyncEvent({ data: 42 })).toBeNull()
  })
})
