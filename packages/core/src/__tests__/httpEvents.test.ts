import { FakeClock, flushPromises, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it, vi } from 'vitest'
import { syncEventSchema } from '../client/contract.js'
import { createSyncHandler, MemoryStore, SyncError, SyncScheduler } from '../index.js'

const KEYS = { apiKey: 'AK-events-5c4b3a291807', secret: 'SK-events-0f1e2d3c4b5a' }

function setup() {
  // The handler's clock drives heartbeats only; the scheduler keeps its own so `pending` counts handler timers.
  const clock = new FakeClock()
  const store = new MemoryStore()
  const binance = recordingAdapter('binance', ({ credentials }) => {
    if (credentials.apiKey.startsWith('revoked')) {
      throw new SyncError('AUTH_FAILED', `API key ${credentials.apiKey} was revoked`)
    }
    return { balances: [{ asset: 'BTC', free: '1', used: '0', total: '1' }] }
  })
  const scheduler = new SyncScheduler({ store, exchanges: [binance], clock: new FakeClock() })
  const on = vi.spyOn(scheduler, 'on')
  const off = vi.spyOn(scheduler, 'off')
  const handler = createSyncHandler({
    scheduler,
    store,
    resolveUser: (request) => request.headers.get('x-user'),
    clock,
    heartbeatMs: 15_000,
  })

  /** Opens `GET /events` and collects what arrives, as text and as parsed events. */
  async function open(user: string) {
    const controller = new AbortController()
    const response = await handler(
      new Request('http://api.test/events', { headers: { 'x-user': user }, signal: controller.signal }),
    )
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    const stream = { response, reader, controller, text: '', ended: false }
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
        if (done) break
        stream.text += decoder.decode(value, { stream: true })
      }
      stream.ended = true
    })()
    await flushPromises()
    return {
      ...stream,
      get text() {
        return stream.text
      },
      get ended() {
        return stream.ended
      },
      events() {
        return [...stream.text.matchAll(/^event: (.+)\ndata: (.+)\n\n/gm)].map(([, type, data]) => ({
          type,
          data: JSON.parse(data as string),
        }))
      },
    }
  }

  /** Every listener the handler gave `scheduler.on` has been given back to `scheduler.off`. */
  function listenersRemoved(): boolean {
    const added = on.mock.calls.map(([event, listener]) => `${event}:${listenerId(listener)}`)
    const removed = new Set(off.mock.calls.map(([event, listener]) => `${event}:${listenerId(listener)}`))
    return added.length > 0 && added.every((entry) => removed.has(entry)) && off.mock.calls.length === added.length
  }
  const ids = new Map<unknown, number>()
  const listenerId = (listener: unknown) => {
    if (!ids.has(listener)) ids.set(listener, ids.size)
    return ids.get(listener)
  }

  return { clock, store, scheduler, handler, open, on, off, listenersRemoved }
}

describe('GET /events', () => {
  it('answers a text/event-stream that is never cached', async () => {
    const { open } = setup()
    const stream = await open('alice')
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('Content-Type')).toBe('text/event-stream; charset=utf-8')
    expect(stream.response.headers.get('Cache-Control')).toBe('no-store, no-transform')
    expect(stream.text).toBe('retry: 3000\n: connected\n\n')
    stream.controller.abort()
  })

  it("carries only the user's own sync events, in order, without balances or secrets", async () => {
    const { open, store, scheduler } = setup()
    const alices = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const alice = await open('alice')
    const bob = await open('bob')
    await scheduler.syncNow(alices.id)
    await flushPromises()
    expect(alice.events()).toEqual([
      {
        type: 'sync:start',
        data: {
          type: 'sync:start',
          connectionId: alices.id,
          exchange: 'binance',
          trigger: 'manual',
          startedAt: expect.any(Number),
        },
      },
      {
        type: 'sync:success',
        data: {
          type: 'sync:success',
          connectionId: alices.id,
          exchange: 'binance',
          trigger: 'manual',
          startedAt: expect.any(Number),
          finishedAt: expect.any(Number),
          nextSyncAt: expect.any(Number),
        },
      },
    ])
    expect(bob.events()).toEqual([])
    await scheduler.syncNow(bobs.id)
    await flushPromises()
    expect(alice.events()).toHaveLength(2)
    expect(bob.events().map((event) => event.type)).toEqual(['sync:start', 'sync:success'])
    expect(alice.text).not.toContain('BTC')
    alice.controller.abort()
    bob.controller.abort()
  })

  it('names the worker that ran a sync when a cluster scheduler reports one, and validates against the contract', async () => {
    const { open, on } = setup()
    const alice = await open('alice')
    const listener = (name: string) => {
      const call = on.mock.calls.find(([event]) => event === name)
      expect(call, name).toBeDefined()
      return call?.[1] as (payload: unknown) => void
    }
    const base = { connectionId: 'c1', userId: 'alice', exchange: 'binance', trigger: 'sweep' as const }
    listener('sync:start')({ ...base, worker: 'worker-2', startedAt: 1, lastSyncAt: null })
    listener('sync:success')({ ...base, balances: [], startedAt: 1, finishedAt: 2, nextSyncAt: 3 })
    await flushPromises()
    const events = alice.events().map((event) => syncEventSchema.parse(event.data))
    expect(events[0]).toMatchObject({ type: 'sync:start', worker: 'worker-2' })
    expect(events[1]).toMatchObject({ type: 'sync:success' })
    expect(events[1]).not.toHaveProperty('worker')
    alice.controller.abort()
  })

  it('carries failures and connection:disabled with scrubbed messages', async () => {
    const { open, store, scheduler } = setup()
    const revoked = { apiKey: `revoked-${KEYS.apiKey}`, secret: KEYS.secret }
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: revoked })
    const alice = await open('alice')
    await scheduler.syncNow(connection.id)
    await flushPromises()
    const events = alice.events()
    expect(events.map((event) => event.type)).toEqual(['sync:start', 'sync:failure', 'connection:disabled'])
    expect(events[1]?.data).toMatchObject({ disabled: true, error: { code: 'AUTH_FAILED' } })
    expect(events[2]?.data).toMatchObject({ connectionId: connection.id, error: { code: 'AUTH_FAILED' } })
    expect(alice.text).toContain('was revoked')
    expect(alice.text).not.toContain(revoked.apiKey)
    alice.controller.abort()
  })

  it('sends a heartbeat comment every heartbeatMs of the injected clock', async () => {
    const { open, clock } = setup()
    const stream = await open('alice')
    await clock.advance(14_999)
    expect(stream.text).not.toContain('heartbeat')
    await clock.advance(1)
    expect(stream.text.match(/: heartbeat\n\n/g)).toHaveLength(1)
    await clock.advance(30_000)
    expect(stream.text.match(/: heartbeat\n\n/g)).toHaveLength(3)
    stream.controller.abort()
  })

  it('removes its scheduler listeners and timers when the clients abort, and not before', async () => {
    const { open, on, off, clock, listenersRemoved, store, scheduler } = setup()
    const first = await open('alice')
    const second = await open('alice')
    expect(on.mock.calls.map(([event]) => event).sort()).toEqual([
      'connection:disabled',
      'sync:failure',
      'sync:start',
      'sync:success',
    ]) // one set of listeners for every stream
    expect(clock.pending).toBe(2)

    first.controller.abort()
    await flushPromises()
    expect(first.ended).toBe(true)
    expect(off).not.toHaveBeenCalled()
    expect(clock.pending).toBe(1)

    second.controller.abort()
    await flushPromises()
    expect(second.ended).toBe(true)
    expect(listenersRemoved()).toBe(true)
    expect(clock.pending).toBe(0)

    // Events after the clients left go nowhere, and nothing throws.
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const errors: unknown[] = []
    scheduler.on('error', (error) => errors.push(error))
    await scheduler.syncNow(connection.id)
    expect(errors).toEqual([])
  })

  it('cleans up the same way when the reader cancels the stream', async () => {
    const { open, clock, listenersRemoved } = setup()
    const stream = await open('alice')
    await stream.reader.cancel()
    await flushPromises()
    expect(listenersRemoved()).toBe(true)
    expect(clock.pending).toBe(0)
  })

  it('subscribes nothing for a request that is already aborted', async () => {
    const { handler, on, clock } = setup()
    const controller = new AbortController()
    controller.abort()
    const response = await handler(
      new Request('http://api.test/events', { headers: { 'x-user': 'alice' }, signal: controller.signal }),
    )
    expect(await response.text()).toBe('')
    expect(on).not.toHaveBeenCalled()
    expect(clock.pending).toBe(0)
  })

  it('drops a stream whose reader stopped reading, instead of queueing without bound', async () => {
    const { handler, store, scheduler, listenersRemoved } = setup()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const response = await handler(new Request('http://api.test/events', { headers: { 'x-user': 'alice' } }))
    for (let index = 0; index < 200; index++) await scheduler.syncNow(connection.id)
    expect(listenersRemoved()).toBe(true)
    // What was queued before the cut is still readable, then the stream ends.
    const text = await response.text()
    expect(text.match(/event: sync:success/g)?.length).toBeGreaterThan(100)
  })

  it('answers 401 without a user and subscribes nothing', async () => {
    const { handler, on } = setup()
    const response = await handler(new Request('http://api.test/events'))
    expect(response.status).toBe(401)
    expect(on).not.toHaveBeenCalled()
  })
})
