import { deferred, FakeClock, recordingAdapter } from '@syncfolio/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InvalidOptionError } from '../errors/invalidOptionError.js'
import { SyncError } from '../errors/syncError.js'
import type { SyncSchedulerEvents } from '../scheduler/events.js'
import type { SyncSchedulerOptions } from '../scheduler/options.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { Balance, Connection, ExchangeAdapter, FetchBalancesRequest } from '../types.js'

const BTC: Balance[] = [{ asset: 'BTC', free: '1.00000000', used: '0.50000000', total: '1.50000000' }]
const MINUTE = 60_000

const schedulers: SyncScheduler[] = []
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop({ timeoutMs: 0 })))
})

async function setup(
  count: number,
  adapters: ExchangeAdapter[] = [recordingAdapter('binance', () => ({ balances: BTC }))],
  options: Partial<SyncSchedulerOptions> = {},
) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const connections: Connection[] = []
  for (let n = 0; n < count; n++) {
    const exchange = (adapters[n % adapters.length] as ExchangeAdapter).id
    connections.push(
      await store.add({
        userId: `user-${n}`,
        exchange,
        credentials: { apiKey: `key-${n}-ABCDEFGH`, secret: `secret-${n}-IJKLMNOPQRST` },
      }),
    )
  }
  // Budgets are off unless a test sets them: these tests are about scheduling, not rate limits.
  const limits = Object.fromEntries(adapters.map((adapter) => [adapter.id, { budgets: [] }]))
  const scheduler = new SyncScheduler({
    store,
    exchanges: adapters,
    clock,
    random: () => 0.5,
    ...options,
    limits: { ...limits, ...options.limits },
  })
  schedulers.push(scheduler)
  return { clock, store, connections, scheduler }
}

function record<E extends keyof SyncSchedulerEvents>(scheduler: SyncScheduler, event: E) {
  const seen: Array<Parameters<SyncSchedulerEvents[E]>[0]> = []
  scheduler.on(event, ((payload: Parameters<SyncSchedulerEvents[E]>[0]) => seen.push(payload)) as never)
  return seen
}

describe('options', () => {
  const store = new MemoryStore()
  const exchanges = [recordingAdapter('binance')]

  it.each([
    [{ concurrency: 0 }, 'concurrency', 'received 0'],
    [{ intervalMs: -5 }, 'intervalMs', 'received -5'],
    [{ timeoutMs: 'soon' }, 'timeoutMs', 'received "soon"'],
    [{ concurency: 5 }, 'concurency', 'is not an option of SyncScheduler'],
    [{ backoff: { baseMs: 10_000, maxMs: 1_000 } }, 'backoff.maxMs', 'received 1000'],
    [{ limits: { binance: { concurrency: 1.5 } } }, 'limits.binance.concurrency', 'received 1.5'],
    [{ exchanges: [] }, 'exchanges', 'received an array of 0'],
    [{ exchanges: [recordingAdapter('okx'), recordingAdapter('okx')] }, 'exchanges', 'two adapters with one id'],
    [{ store: {} }, 'store', 'listDue'],
  ])('rejects %j naming the field and the value', (bad, field, detail) => {
    const attempt = () => new SyncScheduler({ store, exchanges, ...(bad as object) } as SyncSchedulerOptions)
    expect(attempt).toThrow(InvalidOptionError)
    expect(attempt).toThrow(detail)
    try {
      attempt()
    } catch (error) {
      expect((error as InvalidOptionError).field).toBe(field)
      if (field) expect((error as Error).message).toContain(`"${field}"`)
    }
  })

  it('accepts a minimal configuration', () => {
    expect(() => new SyncScheduler({ store, exchanges })).not.toThrow()
  })
})

describe('runOnce', () => {
  it('syncs every due connection once and stores the balances', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { store, connections, scheduler, clock } = await setup(12, [adapter])
    const report = await scheduler.runOnce()
    expect(report).toMatchObject({ attempted: 12, succeeded: 12, failed: 0 })
    expect(new Set(adapter.calls.map((call) => call.connectionId))).toEqual(new Set(connections.map((c) => c.id)))
    expect(adapter.calls).toHaveLength(12)
    for (const connection of connections) {
      expect(await store.getBalances(connection.id)).toEqual(BTC)
      expect((await store.get(connection.id))?.lastSyncAt).toBe(clock.now())
    }
    expect(await scheduler.runOnce()).toMatchObject({ attempted: 0 })
  })

  it('passes each connection its own credentials', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { connections, scheduler } = await setup(6, [adapter])
    await scheduler.runOnce()
    for (const call of adapter.calls) {
      const n = connections.findIndex((connection) => connection.id === call.connectionId)
      expect(call.apiKey).toBe(`key-${n}-ABCDEFGH`)
    }
  })

  it('never runs more than `concurrency` syncs at once: 10 connections, concurrency 5', async () => {
    const gates: Array<() => void> = []
    const adapter = recordingAdapter('binance', async () => {
      const gate = deferred<void>()
      gates.push(gate.resolve)
      await gate.promise
      return { balances: BTC }
    })
    const { scheduler, clock } = await setup(10, [adapter], { concurrency: 5 })
    const sweep = scheduler.runOnce()
    await clock.advance(0)
    expect(adapter.inFlight).toBe(5)
    expect(scheduler.stats()).toMatchObject({ inFlight: 5, queued: 5 })
    while (gates.length > 0) {
      gates.shift()?.()
      await clock.advance(0)
      expect(adapter.inFlight).toBeLessThanOrEqual(5)
    }
    expect(await sweep).toMatchObject({ attempted: 10, succeeded: 10 })
    expect(adapter.maxInFlight).toBe(5)
  })

  it('keeps an exchange within its own concurrency while other exchanges use the free slots', async () => {
    const gate = deferred<void>()
    const held = async () => {
      await gate.promise
      return { balances: BTC }
    }
    const binance = recordingAdapter('binance', held)
    const okx = recordingAdapter('okx', held)
    const { scheduler, clock } = await setup(12, [binance, okx], {
      concurrency: 6,
      limits: { binance: { concurrency: 2 } },
    })
    const sweep = scheduler.runOnce()
    await clock.advance(0)
    expect(binance.inFlight).toBe(2)
    expect(okx.inFlight).toBe(4)
    gate.resolve()
    await sweep
    expect(binance.maxInFlight).toBe(2)
    expect(binance.calls).toHaveLength(6)
    expect(okx.calls).toHaveLength(6)
  })

  it('joins a running sweep: two overlapping runOnce calls sync each connection once', async () => {
    const adapter = recordingAdapter('binance', async () => {
      await Promise.resolve()
      return { balances: BTC }
    })
    const { scheduler } = await setup(8, [adapter], { concurrency: 2 })
    const [first, second] = await Promise.all([scheduler.runOnce(), scheduler.runOnce()])
    expect(first).toBe(second)
    expect(adapter.calls).toHaveLength(8)
    expect(new Set(adapter.calls.map((call) => call.connectionId)).size).toBe(8)
  })

  it('reads the store in pages and queues at most about a page, whatever the store size', async () => {
    const gates: Array<() => void> = []
    const adapter = recordingAdapter('binance', async () => {
      const gate = deferred<void>()
      gates.push(gate.resolve)
      await gate.promise
      return { balances: [] }
    })
    const { scheduler, store, clock } = await setup(1_000, [adapter], { concurrency: 4, pageSize: 50 })
    const limits: number[] = []
    const listDue = store.listDue.bind(store)
    store.listDue = (now, limit, options) => {
      limits.push(limit)
      return listDue(now, limit, options)
    }
    let maxQueued = 0
    const sweep = scheduler.runOnce()
    await clock.advance(0)
    while (gates.length > 0) {
      maxQueued = Math.max(maxQueued, scheduler.stats().queued)
      for (const release of gates.splice(0)) release()
      await clock.advance(0)
    }
    expect(await sweep).toMatchObject({ attempted: 1_000, succeeded: 1_000 })
    expect(Math.max(...limits)).toBe(50)
    expect(limits.length).toBeGreaterThanOrEqual(20)
    expect(maxQueued).toBeLessThanOrEqual(100)
  })

  it('skips connections that are in error or not yet due', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, store, connections, clock } = await setup(3, [adapter])
    const [disabled, later] = connections as [Connection, Connection, Connection]
    const at = clock.now()
    await store.recordFailure(disabled.id, {
      error: { code: 'AUTH_FAILED', message: 'x' },
      startedAt: at,
      finishedAt: at,
      nextSyncAt: at,
      disable: true,
    })
    await store.recordSuccess(later.id, { balances: [], startedAt: at, finishedAt: at, nextSyncAt: at + MINUTE })
    await scheduler.runOnce()
    expect(adapter.calls.map((call) => call.connectionId)).toEqual([(connections[2] as Connection).id])
  })
})

describe('syncNow', () => {
  it('resolves the outcome and joins a sync of the same connection in flight', async () => {
    const gate = deferred<void>()
    const adapter = recordingAdapter('binance', async () => {
      await gate.promise
      return { balances: BTC }
    })
    const { scheduler, connections, clock } = await setup(1, [adapter])
    const id = (connections[0] as Connection).id
    const first = scheduler.syncNow(id)
    await clock.advance(0)
    const second = scheduler.syncNow(id)
    const sweep = scheduler.runOnce()
    gate.resolve()
    expect(await first).toEqual({ ok: true, connectionId: id, balances: BTC })
    expect(await second).toEqual(await first)
    expect(await sweep).toMatchObject({ attempted: 0 })
    expect(adapter.calls).toHaveLength(1)
  })

  it('resolves, not rejects, for a failed sync; rejects for an unknown connection', async () => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError('NETWORK', 'socket hang up')
    })
    const { scheduler, connections } = await setup(1, [adapter])
    const outcome = await scheduler.syncNow((connections[0] as Connection).id)
    expect(outcome.ok).toBe(false)
    expect(!outcome.ok && outcome.error.code).toBe('NETWORK')
    await expect(scheduler.syncNow('no-such-connection')).rejects.toThrow('Unknown connection')
  })

  it('goes ahead of queued sweep work and within the global cap', async () => {
    const gates: Array<() => void> = []
    const adapter = recordingAdapter('binance', async () => {
      const gate = deferred<void>()
      gates.push(gate.resolve)
      await gate.promise
      return { balances: BTC }
    })
    const { scheduler, connections, clock } = await setup(6, [adapter], { concurrency: 1 })
    const sweep = scheduler.runOnce()
    await clock.advance(0)
    // The connection the sweep would take last: it sorts last by id, as none has synced yet.
    const last = connections.map((connection) => connection.id).sort()[5] as string
    const manual = scheduler.syncNow(last)
    await clock.advance(0)
    expect(adapter.inFlight).toBe(1)
    gates.shift()?.()
    await clock.advance(0)
    expect(adapter.calls[1]?.connectionId).toBe(last)
    while (gates.length) {
      gates.shift()?.()
      await clock.advance(0)
    }
    expect((await manual).ok).toBe(true)
    expect(await sweep).toMatchObject({ attempted: 6 })
    expect(adapter.maxInFlight).toBe(1)
  })

  it('does not call the exchange for a connection whose keys were rejected', async () => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError('AUTH_FAILED', 'Invalid API-key')
    })
    const { scheduler, connections } = await setup(1, [adapter])
    const id = (connections[0] as Connection).id
    await scheduler.syncNow(id)
    const outcome = await scheduler.syncNow(id)
    expect(!outcome.ok && outcome.error.code).toBe('AUTH_FAILED')
    expect(adapter.calls).toHaveLength(1)
  })
})

describe('isolation', () => {
  it('isolates a throw, a SyncError, garbage and a hang to their own connections', async () => {
    const behaviours: Record<string, (request: FetchBalancesRequest) => unknown> = {
      'user-0': () => {
        throw new Error('boom')
      },
      'user-1': () => Promise.reject(new SyncError('EXCHANGE_UNAVAILABLE', 'success: false')),
      'user-2': () => ({ balances: [{ asset: 'BTC', free: 1.5, used: '0', total: '1.5' }] }),
      'user-3': () => new Promise(() => {}),
      'user-4': () => ({ balances: 'lots' }),
      'user-5': () => null,
    }
    const signals = new Map<string, AbortSignal>()
    const adapter: ExchangeAdapter = {
      id: 'binance',
      async fetchBalances(request) {
        signals.set(request.connection.userId, request.signal)
        const behaviour = behaviours[request.connection.userId]
        return (behaviour ? behaviour(request) : { balances: BTC }) as never
      },
    }
    const { scheduler, store, connections, clock } = await setup(10, [adapter], { timeoutMs: 5_000 })
    const failures = record(scheduler, 'sync:failure')
    const sweep = scheduler.runOnce()
    await clock.advance(5_000)
    expect(await sweep).toMatchObject({ attempted: 10, succeeded: 4, failed: 6 })
    const codeOf = (n: number) => failures.find((f) => f.connectionId === (connections[n] as Connection).id)?.error.code
    expect([0, 1, 2, 3, 4, 5].map(codeOf)).toEqual([
      'UNKNOWN',
      'EXCHANGE_UNAVAILABLE',
      'INVALID_RESPONSE',
      'TIMEOUT',
      'INVALID_RESPONSE',
      'INVALID_RESPONSE',
    ])
    const unknown = failures.find((f) => f.error.code === 'UNKNOWN')
    expect((unknown?.error.cause as Error | undefined)?.message).toBe('boom')
    expect(failures.find((f) => f.connectionId === connections[2]?.id)?.error.message).toContain('balances[0].free')
    for (const n of [6, 7, 8, 9]) expect(await store.getBalances((connections[n] as Connection).id)).toEqual(BTC)
    expect(signals.get('user-3')?.aborted).toBe(true)
    expect([...signals.values()].filter((signal) => signal.aborted)).toHaveLength(1)
  })

  it('cuts off a hanging call at timeoutMs and frees its slot', async () => {
    let calls = 0
    const adapter = recordingAdapter('binance', () => (calls++ === 0 ? new Promise(() => {}) : { balances: BTC }))
    const { scheduler, clock } = await setup(3, [adapter], { concurrency: 1, timeoutMs: 10_000 })
    const done = vi.fn()
    void scheduler.runOnce().then(done)
    await clock.advance(9_999)
    expect(adapter.calls).toHaveLength(1)
    await clock.advance(1)
    expect(adapter.calls).toHaveLength(3)
    expect(done).toHaveBeenCalledWith(expect.objectContaining({ succeeded: 2, failed: 1 }))
    expect(adapter.calls[0]?.signal.reason).toMatchObject({ code: 'TIMEOUT' })
  })

  it('keeps going when a listener throws, and reports it as an error event', async () => {
    const { scheduler } = await setup(3)
    const errors = record(scheduler, 'error')
    const successes = vi.fn()
    scheduler.on('sync:success', () => {
      throw new Error('listener bug')
    })
    scheduler.on('sync:success', successes)
    scheduler.on('sweep:end', async () => {
      throw new Error('async listener bug')
    })
    expect(await scheduler.runOnce()).toMatchObject({ succeeded: 3 })
    await Promise.resolve()
    expect(successes).toHaveBeenCalledTimes(3)
    expect(errors.map((error) => error.message)).toEqual([
      ...Array(3).fill('A "sync:success" listener threw: listener bug'),
      'A "sweep:end" listener threw: async listener bug',
    ])
  })

  it('survives a failing store: an error event, a failed outcome, and the next sweep goes on', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, store, connections } = await setup(2, [adapter])
    const errors = record(scheduler, 'error')
    const recordSuccess = store.recordSuccess.bind(store)
    store.recordSuccess = async (id, result) => {
      if (id === connections[0]?.id) throw new Error('disk full')
      return recordSuccess(id, result)
    }
    const report = await scheduler.runOnce()
    expect(report).toMatchObject({ attempted: 2, succeeded: 1, failed: 1 })
    expect(errors[0]?.message).toContain('disk full')
    store.listDue = async () => {
      throw new Error('connection refused')
    }
    expect(await scheduler.runOnce()).toMatchObject({ attempted: 0 })
    expect(errors.at(-1)?.message).toContain('connection refused')
  })
})

describe('failures', () => {
  it('disables a connection on a permanent error until its credentials change', async () => {
    let valid = false
    const adapter = recordingAdapter('binance', () => {
      if (!valid) throw new SyncError('AUTH_FAILED', 'API key revoked')
      return { balances: BTC }
    })
    const { scheduler, store, connections, clock } = await setup(1, [adapter])
    const id = (connections[0] as Connection).id
    const disabled = record(scheduler, 'connection:disabled')
    await scheduler.runOnce()
    expect(disabled).toEqual([expect.objectContaining({ connectionId: id, userId: 'user-0', exchange: 'binance' })])
    expect(await store.get(id)).toMatchObject({ status: 'error', lastError: { code: 'AUTH_FAILED' } })
    for (let n = 0; n < 5; n++) {
      await clock.advance(24 * 60 * MINUTE)
      await scheduler.runOnce()
    }
    expect(adapter.calls).toHaveLength(1)
    valid = true
    await store.updateCredentials(id, { apiKey: 'new-key-ABCDEFGH', secret: 'new-secret-ABCDEFGH' })
    await scheduler.runOnce()
    expect(adapter.calls).toHaveLength(2)
    expect(await store.get(id)).toMatchObject({ status: 'active', failureCount: 0, lastError: null })
  })

  it.each(['PERMISSION_DENIED', 'ACCOUNT_SUSPENDED'] as const)('treats %s as permanent', async (code) => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError(code, 'no')
    })
    const { scheduler, store, connections } = await setup(1, [adapter])
    await scheduler.runOnce()
    expect((await store.get((connections[0] as Connection).id))?.status).toBe('error')
  })

  it('backs off transient errors exponentially, never sooner than the interval, and resets on success', async () => {
    let failing = true
    const adapter = recordingAdapter('binance', () => {
      if (failing) throw new SyncError('EXCHANGE_UNAVAILABLE', '503')
      return { balances: BTC }
    })
    const { scheduler, store, connections, clock } = await setup(1, [adapter], {
      random: () => 0,
      backoff: { baseMs: 30_000, maxMs: 8 * MINUTE },
    })
    const id = (connections[0] as Connection).id
    const delays: number[] = []
    for (let n = 0; n < 6; n++) {
      await scheduler.runOnce()
      const connection = (await store.get(id)) as Connection
      expect(connection.status).toBe('active')
      expect(connection.failureCount).toBe(n + 1)
      delays.push((connection.nextSyncAt as number) - clock.now())
      await clock.advance((connection.nextSyncAt as number) - clock.now())
    }
    // 30 s, 60 s, 120 s, ... capped at 8 min; never below the 60 s interval (no jitter with random() = 0).
    expect(delays).toEqual([MINUTE, MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 8 * MINUTE])
    expect(adapter.calls).toHaveLength(6)
    failing = false
    await scheduler.runOnce()
    expect(await store.get(id)).toMatchObject({ failureCount: 0, lastError: null })
  })

  it('spreads retries with jitter', async () => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError('NETWORK', 'reset')
    })
    const randoms = [0, 0.5, 0.999]
    const nexts: number[] = []
    for (const value of randoms) {
      const { scheduler, store, connections, clock } = await setup(1, [adapter], {
        random: () => value,
        backoff: { baseMs: 8 * MINUTE, maxMs: 60 * MINUTE },
      })
      await scheduler.runOnce()
      nexts.push(((await store.get((connections[0] as Connection).id))?.nextSyncAt as number) - clock.now())
    }
    // Up to half the delay again at random, above the floor: the first retry is spread too.
    expect(nexts[0]).toBe(8 * MINUTE)
    expect(nexts[1]).toBe(10 * MINUTE)
    expect(nexts[2]).toBeGreaterThan(11.9 * MINUTE)
  })

  it('jitters the first retry too with the default backoff', async () => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError('NETWORK', 'reset')
    })
    const { scheduler, store, connections, clock } = await setup(1, [adapter], { random: () => 0.5 })
    await scheduler.runOnce()
    const next = (await store.get((connections[0] as Connection).id))?.nextSyncAt as number
    expect(next - clock.now()).toBe(75_000)
  })

  it('waits at least as long as a Retry-After asks', async () => {
    const adapter = recordingAdapter('binance', () => {
      throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 10 * MINUTE, scope: 'account' })
    })
    const { scheduler, store, connections, clock } = await setup(1, [adapter])
    await scheduler.runOnce()
    const next = (await store.get((connections[0] as Connection).id))?.nextSyncAt as number
    expect(next - clock.now()).toBe(10 * MINUTE)
  })
})

describe('secrets', () => {
  it('never lets a credential value out: events, outcomes, stored errors and error events', async () => {
    const adapter = recordingAdapter('binance', ({ credentials, connection }) => {
      const leak = `GET /api/v3/account?apiKey=${credentials.apiKey}&signature=${credentials.secret}`
      if (connection.userId === 'user-0')
        throw new Error(leak, { cause: new Error(`header X-MBX-APIKEY: ${credentials.apiKey}`) })
      if (connection.userId === 'user-1') throw new SyncError('AUTH_FAILED', leak)
      return { balances: [{ asset: credentials.apiKey, free: 'x', used: '0', total: '0' }] }
    })
    const { scheduler, store, connections } = await setup(3, [adapter])
    const seen: unknown[] = []
    for (const event of ['sync:start', 'sync:success', 'sync:failure', 'connection:disabled', 'error'] as const) {
      scheduler.on(event, (payload: unknown) => seen.push(payload))
    }
    const outcomes = await Promise.all(connections.map((connection) => scheduler.syncNow(connection.id)))
    const stored = await Promise.all(connections.map((connection) => store.get(connection.id)))
    const failures = outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.error]))
    expect(failures).toHaveLength(3)
    const everything = JSON.stringify([seen, outcomes, stored], (_key, value) =>
      value instanceof Error ? { message: value.message, stack: value.stack, cause: value.cause } : value,
    )
    expect(everything).toContain('[redacted]')
    for (let n = 0; n < 3; n++) {
      expect(everything).not.toContain(`key-${n}-ABCDEFGH`)
      expect(everything).not.toContain(`secret-${n}-IJKLMNOPQRST`)
    }
  })
})

describe('background schedule', () => {
  it('syncs each active connection about once per interval', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, connections, clock } = await setup(5, [adapter])
    scheduler.start()
    scheduler.start()
    await clock.advance(10 * MINUTE)
    for (const connection of connections) {
      const calls = adapter.calls.filter((call) => call.connectionId === connection.id).length
      expect(calls).toBeGreaterThanOrEqual(10)
      expect(calls).toBeLessThanOrEqual(11)
    }
  })

  it('spreads starts over the interval instead of firing them in a burst', async () => {
    const starts: number[] = []
    const { scheduler, clock } = await setup(240)
    scheduler.on('sync:start', ({ startedAt }) => starts.push(startedAt))
    const t0 = clock.now()
    scheduler.start()
    await clock.advance(4 * MINUTE)
    // After the first sweep (everything due at once), count starts per 10-second slot of minutes 2 to 4.
    const slots = new Array(12).fill(0)
    for (const at of starts)
      if (at >= t0 + 2 * MINUTE && at < t0 + 4 * MINUTE) slots[Math.floor((at - t0 - 2 * MINUTE) / 10_000)]++
    expect(slots.reduce((a, b) => a + b, 0)).toBe(480)
    for (const count of slots) {
      expect(count).toBeGreaterThan(10)
      expect(count).toBeLessThan(80)
    }
  })

  it('never overlaps sweeps, however long one takes', async () => {
    let release = () => {}
    const adapter = recordingAdapter('binance', async () => {
      await new Promise<void>((resolve) => {
        release = resolve
      })
      return { balances: BTC }
    })
    const { scheduler, store, clock } = await setup(3, [adapter], { concurrency: 1, timeoutMs: 10 * MINUTE })
    const sweeps = record(scheduler, 'sweep:end')
    let pagesRead = 0
    const listDue = store.listDue.bind(store)
    store.listDue = (...args) => {
      // The binance sweep's pages; the pass that looks for exchanges without an adapter reads unfiltered ones.
      if (args[2]?.exchange === 'binance') pagesRead++
      return listDue(...args)
    }
    scheduler.start()
    await clock.advance(5 * MINUTE)
    // Three hundred ticks have passed; none of them started a sweep beside the one still running.
    expect(pagesRead).toBe(1)
    expect(sweeps).toHaveLength(0)
    expect(adapter.calls).toHaveLength(1)
    for (let n = 0; n < 3; n++) {
      release()
      await clock.advance(0)
    }
    await clock.advance(MINUTE)
    expect(sweeps.length).toBeGreaterThan(1)
    for (let n = 1; n < sweeps.length; n++) {
      expect(sweeps[n]?.startedAt).toBeGreaterThanOrEqual(sweeps[n - 1]?.finishedAt as number)
    }
    expect(adapter.maxInFlight).toBe(1)
  })

  it('puts the connections of an active user first', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, connections } = await setup(30, [adapter], { concurrency: 1 })
    scheduler.markActive('user-17')
    await scheduler.runOnce()
    expect(adapter.calls[0]?.connectionId).toBe(connections[17]?.id)
  })
})

describe('stop', () => {
  it('waits for syncs in flight, drops queued ones, and starts nothing after', async () => {
    const gate = deferred<void>()
    const adapter = recordingAdapter('binance', async () => {
      await gate.promise
      return { balances: BTC }
    })
    const { scheduler, store, connections, clock } = await setup(4, [adapter], { concurrency: 2 })
    scheduler.start()
    await clock.advance(0)
    expect(adapter.inFlight).toBe(2)
    const running = new Set(adapter.calls.map((call) => call.connectionId))
    const waiting = connections.find((connection) => !running.has(connection.id)) as Connection
    const queuedOutcome = scheduler.syncNow(waiting.id)
    const stopped = vi.fn()
    const stopping = scheduler.stop().then(stopped)
    await clock.advance(0)
    expect(stopped).not.toHaveBeenCalled()
    gate.resolve()
    await stopping
    expect(await queuedOutcome).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
    const synced = await Promise.all(connections.map((c) => store.get(c.id)))
    expect(synced.filter((c) => c?.lastSyncAt !== null)).toHaveLength(2)
    await clock.advance(30 * MINUTE)
    expect(adapter.calls).toHaveLength(2)
  })

  it('aborts syncs still running after timeoutMs and records nothing for them', async () => {
    const adapter = recordingAdapter('binance', () => new Promise(() => {}))
    const { scheduler, store, connections, clock } = await setup(1, [adapter], { timeoutMs: 10 * MINUTE })
    const id = (connections[0] as Connection).id
    const outcome = scheduler.syncNow(id)
    await clock.advance(0)
    const stopping = scheduler.stop({ timeoutMs: 1_000 })
    await clock.advance(1_000)
    await stopping
    expect(adapter.calls[0]?.signal.aborted).toBe(true)
    expect(await outcome).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
    expect(await store.get(id)).toMatchObject({ lastAttemptAt: null, failureCount: 0, lastError: null })
  })

  it('can start again after stopping', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, clock } = await setup(1, [adapter])
    scheduler.start()
    await clock.advance(0)
    await scheduler.stop()
    scheduler.start()
    await clock.advance(2 * MINUTE)
    expect(adapter.calls.length).toBeGreaterThanOrEqual(2)
  })
})

describe('verifyCredentials', () => {
  const draft = (exchange = 'binance') =>
    ({
      id: 'unsaved-1',
      userId: 'new-user',
      exchange,
      status: 'active',
      lastSyncAt: null,
      lastAttemptAt: null,
      nextSyncAt: null,
      failureCount: 0,
      lastError: null,
    }) as Connection
  const keys = { apiKey: 'new-key-ABCDEFGH', secret: 'new-secret-ABCDEFGH' }

  it('test-fetches keys without storing or recording anything', async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, store } = await setup(0, [adapter])
    const events = record(scheduler, 'sync:start')
    expect(await scheduler.verifyCredentials({ connection: draft(), credentials: keys })).toEqual({
      ok: true,
      balances: BTC,
    })
    expect(adapter.calls[0]?.apiKey).toBe(keys.apiKey)
    expect(await store.listByUser('new-user')).toEqual([])
    expect(events).toEqual([])
    expect(scheduler.exchanges).toEqual(['binance'])
  })

  it('scrubs the keys out of a refusal and says whether it is permanent', async () => {
    const adapter = recordingAdapter('binance', ({ credentials }) => {
      throw new SyncError('AUTH_FAILED', `Invalid API-key ${credentials.apiKey}`)
    })
    const { scheduler } = await setup(0, [adapter])
    const result = await scheduler.verifyCredentials({ connection: draft(), credentials: keys })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.error.permanent).toBe(true)
    expect(result.error.message).toBe('Invalid API-key [redacted]')
  })

  it("spends the exchange's budget and waits for it, up to its timeout", async () => {
    const adapter = recordingAdapter('binance', () => ({ balances: BTC }))
    const { scheduler, clock } = await setup(0, [adapter], {
      limits: { binance: { cost: 20, budgets: [{ scope: 'exchange', limit: 20, windowMs: MINUTE }] } },
    })
    expect((await scheduler.verifyCredentials({ connection: draft(), credentials: keys })).ok).toBe(true)
    const refused = await scheduler.verifyCredentials({ connection: draft(), credentials: keys }, { timeoutMs: 10_000 })
    expect(refused).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED', retryAfterMs: MINUTE } })
    const waiting = scheduler.verifyCredentials({ connection: draft(), credentials: keys }, { timeoutMs: 2 * MINUTE })
    await clock.advance(MINUTE - 1)
    expect(adapter.calls).toHaveLength(1)
    await clock.advance(1)
    expect((await waiting).ok).toBe(true)
    expect(adapter.calls).toHaveLength(2)
  })

  it('ends as CANCELLED when the caller aborts, and as TIMEOUT past its timeout', async () => {
    const adapter = recordingAdapter('binance', () => new Promise(() => {}))
    const { scheduler, clock } = await setup(0, [adapter])
    const controller = new AbortController()
    const aborted = scheduler.verifyCredentials(
      { connection: draft(), credentials: keys },
      { signal: controller.signal },
    )
    await clock.advance(0)
    controller.abort()
    expect(await aborted).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
    expect(adapter.calls[0]?.signal.aborted).toBe(true)
    const slow = scheduler.verifyCredentials({ connection: draft(), credentials: keys }, { timeoutMs: 3_000 })
    await clock.advance(3_000)
    expect(await slow).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } })
  })

  it('refuses an exchange it does not sync', async () => {
    const { scheduler } = await setup(0)
    expect(await scheduler.verifyCredentials({ connection: draft('kraken'), credentials: keys })).toMatchObject({
      ok: false,
      error: { code: 'UNSUPPORTED_EXCHANGE' },
    })
  })
})
