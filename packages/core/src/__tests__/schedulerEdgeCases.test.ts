import { deferred, FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import { SyncError } from '../errors/syncError.js'
import type { SyncSchedulerOptions } from '../scheduler/options.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { Balance, FetchBalancesRequest, FetchBalancesResult } from '../types.js'

// Edge cases where an adapter, a store or a caller does something odd at a bad moment.

const BTC: Balance[] = [{ asset: 'BTC', free: '1', used: '0', total: '1' }]
const CREDS = { apiKey: 'key-ABCDEFGH', secret: 'secret-IJKLMNOPQRST' }

/** A store with one Binance connection and a scheduler over it, budgets off. */
async function build(
  handler: (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult,
  options: Partial<SyncSchedulerOptions> = {},
) {
  const store = new MemoryStore()
  const clock = new FakeClock()
  const c = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
  const adapter = recordingAdapter('binance', handler)
  const scheduler = new SyncScheduler({
    store,
    clock,
    exchanges: [adapter],
    limits: { binance: { budgets: [] } },
    ...options,
  })
  return { store, clock, c, adapter, scheduler }
}

describe('odd values thrown by an adapter', () => {
  const setup = (thrown: () => unknown) => build(() => Promise.reject(thrown()))

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
    let first = true
    const { store, clock, adapter, scheduler } = await build(() => {
      if (first) {
        first = false
        return Promise.reject(Object.create(null))
      }
      return { balances: [] }
    })
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
    const { c, scheduler } = await build(() => ({ balances: BTC }))
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
    const gate = deferred<void>()
    const { store, clock, c, scheduler } = await build(async ({ credentials }) => {
      if (credentials.apiKey === CREDS.apiKey) {
        await gate.promise
        throw new SyncError('AUTH_FAILED', 'revoked')
      }
      return { balances: BTC }
    })
    const old = scheduler.syncNow(c.id)
    await clock.advance(0)
    await clock.advance(10)
    await store.updateCredentials(c.id, { apiKey: 'new-key-XYZW1234', secret: 'new-secret-XYZW1234' })
    gate.resolve()
    await old
    expect(await store.get(c.id)).toMatchObject({ status: 'active' })
  })

  it('a syncNow that began before stop() does not call the exchange after stop() returned', async () => {
    const { store, clock, c, adapter, scheduler } = await build(() => ({ balances: BTC }))
    const slowGet = deferred<void>()
    const get = store.get.bind(store)
    // A store with a real round trip.
    store.get = async (id) => {
      await slowGet.promise
      return get(id)
    }
    scheduler.start()
    const pending = scheduler.syncNow(c.id)
    await scheduler.stop()
    slowGet.resolve()
    await clock.advance(0)
    expect(adapter.calls).toHaveLength(0)
    expect(await pending).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
  })

  it('stop({ timeoutMs: 0 }) does not let a sync that was reading its credentials call the exchange', async () => {
    const { store, clock, c, adapter, scheduler } = await build(() => new Promise(() => {}), { timeoutMs: 30_000 })
    const slow = deferred<void>()
    const getCredentials = store.getCredentials.bind(store)
    store.getCredentials = async (id) => {
      await slow.promise
      return getCredentials(id)
    }
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
    const { store, clock, c, scheduler } = await build(() => ({ balances: BTC }))
    store.recordSuccess = () => new Promise(() => {})
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
    const { store, clock, adapter, scheduler } = await build(() => ({ balances: BTC }))
    store.listByUser = (() => {
      throw new Error('pool closed')
    }) as never
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
