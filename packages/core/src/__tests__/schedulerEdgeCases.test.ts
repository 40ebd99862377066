import { deferred, FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import { SyncError } from '../errors/syncError.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { Balance } from '../types.js'

// Edge cases where an adapter, a store or a caller does something odd at a bad moment.

const BTC: Balance[] = [{ asset: 'BTC', free: '1', used: '0', total: '1' }]
const CREDS = { apiKey: 'key-ABCDEFGH', secret: 'secret-IJKLMNOPQRST' }

describe('odd values thrown by an adapter', () => {
  async function setup(thrown: () => unknown) {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    const scheduler = new SyncScheduler({
      store,
      clock,
      limits: { binance: { budgets: [] } },
      exchanges: [recordingAdapter('binance', () => Promise.reject(thrown()))],
    })
    const errors: unknown[] = []
    scheduler.on('error', (e) => errors.push(e))
    return { store, clock, c, scheduler }
  }

  it.each([
    ['null-prototype object', () => Object.create(null)],
    ['Error with non-string message', () => Object.assign(new Error('x'), { message: undefined })],
  ])('an adapter rejecting with %s still settles the sync', async (_name, thrown) => {
    const { clock, c, scheduler } = await setup(thrown)
    let settled = false
    const outcome = scheduler.syncNow(c.id).then((o) => {
      settled = true
      return o
    })
    await clock.advance(60_000)
    expect(settled).toBe(true)
    expect(scheduler.stats().inFlight).toBe(0)
    await outcome
  })

  it('stop() still returns after such a rejection', async () => {
    const { clock, c, scheduler } = await setup(() => Object.create(null))
    void scheduler.syncNow(c.id)
    await clock.advance(0)
    let stopped = false
    void scheduler.stop({ timeoutMs: 1_000 }).then(() => {
      stopped = true
    })
    await clock.advance(5_000)
    expect(stopped).toBe(true)
  })

  it('one garbage rejection does not stop the background schedule of the whole exchange', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    let first = true
    const adapter = recordingAdapter('binance', () => {
      if (first) {
        first = false
        return Promise.reject(Object.create(null))
      }
      return { balances: [] }
    })
    const scheduler = new SyncScheduler({ store, clock, exchanges: [adapter], limits: { binance: { budgets: [] } } })
    scheduler.start()
    await clock.advance(1_000)
    const later = await store.add({ userId: 'v', exchange: 'binance', credentials: CREDS })
    await clock.advance(10 * 60_000)
    expect(adapter.calls.map((c) => c.connectionId)).toContain(later.id)
    expect(scheduler.stats().sweeping).toBe(false)
  })
})

describe('once()', () => {
  it('a once() listener fires only once', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    const scheduler = new SyncScheduler({
      store,
      clock,
      exchanges: [recordingAdapter('binance', () => ({ balances: BTC }))],
      limits: { binance: { budgets: [] } },
    })
    let calls = 0
    scheduler.once('sync:success', () => {
      calls++
    })
    await scheduler.syncNow(c.id)
    await scheduler.syncNow(c.id)
    await scheduler.syncNow(c.id)
    expect(calls).toBe(1)
  })
})

describe('races with stop(), new credentials and failing stores', () => {
  it('a sync with the old keys that fails after updateCredentials does not disable the new keys', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    const gate = deferred<void>()
    const adapter = recordingAdapter('binance', async ({ credentials }) => {
      if (credentials.apiKey === CREDS.apiKey) {
        await gate.promise
        throw new SyncError('AUTH_FAILED', 'revoked')
      }
      return { balances: BTC }
    })
    const scheduler = new SyncScheduler({ store, clock, exchanges: [adapter], limits: { binance: { budgets: [] } } })
    const old = scheduler.syncNow(c.id)
    await clock.advance(0)
    await clock.advance(10)
    await store.updateCredentials(c.id, { apiKey: 'new-key-XYZW1234', secret: 'new-secret-XYZW1234' })
    gate.resolve()
    await old
    expect(await store.get(c.id)).toMatchObject({ status: 'active' })
  })

  it('a syncNow that began before stop() does not call the exchange after stop() returned', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    const slowGet = deferred<void>()
    const get = store.get.bind(store)
    store.get = async (id) => {
      await slowGet.promise
      return get(id)
    } // a store with a real round trip
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const scheduler = new SyncScheduler({ store, clock, exchanges: [adapter], limits: { binance: { budgets: [] } } })
    scheduler.start()
    const pending = scheduler.syncNow(c.id)
    await scheduler.stop()
    slowGet.resolve()
    await clock.advance(0)
    expect(adapter.calls).toHaveLength(0)
    expect(await pending).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
  })

  it('stop({ timeoutMs: 0 }) does not let a sync that was reading its credentials call the exchange', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    const slow = deferred<void>()
    const getCredentials = store.getCredentials.bind(store)
    store.getCredentials = async (id) => {
      await slow.promise
      return getCredentials(id)
    }
    const adapter = recordingAdapter('binance', () => new Promise(() => {}))
    const scheduler = new SyncScheduler({
      store,
      clock,
      exchanges: [adapter],
      limits: { binance: { budgets: [] } },
      timeoutMs: 30_000,
    })
    void scheduler.syncNow(c.id)
    await clock.advance(0)
    let stopped = false
    void scheduler.stop({ timeoutMs: 0 }).then(() => {
      stopped = true
    })
    await clock.advance(0)
    slow.resolve()
    await clock.advance(1_000)
    expect(adapter.calls).toHaveLength(0)
    expect(stopped).toBe(true)
  })

  it('stop({ timeoutMs }) returns even if the store hangs recording a result', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    store.recordSuccess = () => new Promise(() => {})
    const scheduler = new SyncScheduler({
      store,
      clock,
      exchanges: [recordingAdapter('binance', () => ({ balances: BTC }))],
      limits: { binance: { budgets: [] } },
    })
    void scheduler.syncNow(c.id)
    await clock.advance(0)
    let stopped = false
    void scheduler.stop({ timeoutMs: 1_000 }).then(() => {
      stopped = true
    })
    await clock.advance(60_000)
    expect(stopped).toBe(true)
  })

  it('accepts intervalMs of two hours with the default backoff', () => {
    const store = new MemoryStore()
    expect(
      () => new SyncScheduler({ store, exchanges: [recordingAdapter('binance')], intervalMs: 2 * 3_600_000 }),
    ).not.toThrow()
  })

  it('a store whose listByUser throws synchronously does not kill the lane', async () => {
    const store = new MemoryStore()
    const clock = new FakeClock()
    await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
    store.listByUser = (() => {
      throw new Error('pool closed')
    }) as never
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const scheduler = new SyncScheduler({ store, clock, exchanges: [adapter], limits: { binance: { budgets: [] } } })
    scheduler.on('error', () => {})
    scheduler.markActive('u')
    let done = false
    void scheduler.runOnce().then(() => {
      done = true
    })
    await clock.advance(60_000)
    expect(done).toBe(true)
    expect(adapter.calls).toHaveLength(1)
  })
})
