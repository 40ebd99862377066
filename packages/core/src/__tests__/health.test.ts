import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import { SyncError } from '../errors/syncError.js'
import type { SchedulerLogger, SyncStartEvent } from '../scheduler/events.js'
import { SyncScheduler } from '../scheduler/syncScheduler.js'
import { MemoryStore } from '../store/memoryStore.js'
import type { FetchBalancesRequest, FetchBalancesResult } from '../types.js'

const MINUTE = 60_000
const CREDS = { apiKey: 'key-ABCDEFGHIJ', secret: 'secret-KLMNOPQRST' }

async function setup(
  handler: (request: FetchBalancesRequest) => Promise<FetchBalancesResult> | FetchBalancesResult = () => ({
    balances: [],
  }),
  logger?: SchedulerLogger,
  options: { timeoutMs?: number } = {},
) {
  const store = new MemoryStore()
  const clock = new FakeClock()
  const connection = await store.add({ userId: 'u', exchange: 'binance', credentials: CREDS })
  const scheduler = new SyncScheduler({
    store,
    clock,
    exchanges: [recordingAdapter('binance', handler)],
    limits: { binance: { budgets: [] } },
    logger,
    ...options,
  })
  scheduler.on('error', () => {})
  return { store, clock, connection, scheduler }
}

describe('health()', () => {
  it('says when each exchange last finished a sweep, and holds no user data', async () => {
    const { clock, scheduler } = await setup()
    expect(scheduler.health()).toEqual({
      ok: true,
      exchanges: { binance: { lastSweepAt: null, pausedUntil: null, budgetLeft: null, inFlight: 0, queued: 0 } },
      store: { ok: true, lastError: null },
    })
    await clock.advance(5)
    await scheduler.runOnce()
    const health = scheduler.health()
    expect(health.exchanges.binance?.lastSweepAt).toBe(clock.now())
    expect(JSON.stringify(health)).not.toMatch(/"u"|key-|secret-/)
  })

  it('is not ok while the store fails, with the error scrubbed of its connection string, and ok after a good call', async () => {
    const { store, scheduler } = await setup()
    const listDue = store.listDue.bind(store)
    store.listDue = () => Promise.reject(new Error('connect ECONNREFUSED postgres://app:hunter2@db:5432/prod'))
    await scheduler.runOnce()
    const failing = scheduler.health()
    expect(failing.ok).toBe(false)
    expect(failing.store.ok).toBe(false)
    expect(failing.store.lastError?.message).toContain('store.listDue')
    expect(failing.store.lastError?.message).not.toContain('hunter2')
    store.listDue = listDue
    await scheduler.runOnce()
    expect(scheduler.health()).toMatchObject({ ok: true, store: { ok: true, lastError: null } })
  })

  it('a paused exchange alone keeps it ok', async () => {
    const { clock, connection, scheduler } = await setup(() => {
      throw new SyncError('RATE_LIMITED', '418', { retryAfterMs: 10 * MINUTE, scope: 'exchange' })
    })
    await scheduler.syncNow(connection.id)
    const paused = scheduler.health()
    expect(paused.ok).toBe(true)
    expect(paused.exchanges.binance?.pausedUntil).toBe(clock.now() + 10 * MINUTE)
  })

  it('a started scheduler that finishes no sweep within two intervals is not ok', async () => {
    // One call that takes ten minutes holds the only sweep open; the store answers every call.
    const { clock, scheduler } = await setup(
      () => new Promise((resolve) => clock.setTimeout(() => resolve({ balances: [] }), 10 * MINUTE)),
      undefined,
      { timeoutMs: 20 * MINUTE },
    )
    scheduler.start()
    await clock.advance(MINUTE)
    expect(scheduler.health().ok).toBe(true)
    await clock.advance(MINUTE + 1_000)
    expect(scheduler.health()).toMatchObject({ ok: false, store: { ok: true } })
    await clock.advance(8 * MINUTE)
    expect(scheduler.health().ok).toBe(true)
  })
})

describe('logger', () => {
  it('writes warnings, store failures, pauses and disabled connections, never a secret', async () => {
    const lines: Array<[string, string]> = []
    const logger: SchedulerLogger = {
      debug: (message) => lines.push(['debug', message]),
      info: (message) => lines.push(['info', message]),
      warn: (message) => lines.push(['warn', message]),
      error: (message) => lines.push(['error', message]),
    }
    let calls = 0
    const { store, connection, scheduler } = await setup(() => {
      calls++
      if (calls === 1) throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 5_000, scope: 'exchange' })
      throw new SyncError('AUTH_FAILED', `Invalid API-key ${CREDS.apiKey}`)
    }, logger)
    await scheduler.syncNow(connection.id)
    expect(lines).toContainEqual(['warn', "binance is paused for 5 s at the exchange's request"])
    const limiterFree = new SyncScheduler({
      store,
      exchanges: [
        recordingAdapter('binance', () => {
          throw new SyncError('AUTH_FAILED', `Invalid API-key ${CREDS.apiKey}`)
        }),
      ],
      limits: { binance: { budgets: [] } },
      logger,
    })
    await limiterFree.syncNow(connection.id)
    expect(lines.some(([level, line]) => level === 'warn' && line.includes('out of the schedule (AUTH_FAILED'))).toBe(
      true,
    )
    store.listDue = () => Promise.reject(new Error('disk gone'))
    await scheduler.runOnce()
    expect(lines.some(([level, line]) => level === 'error' && line.includes('disk gone'))).toBe(true)
    expect(lines.some(([, line]) => line.includes(CREDS.apiKey) || line.includes(CREDS.secret))).toBe(false)
  })

  it('is checked at construction', async () => {
    const store = new MemoryStore()
    expect(
      () =>
        new SyncScheduler({
          store,
          exchanges: [recordingAdapter('binance')],
          logger: { info: () => {} } as unknown as SchedulerLogger,
        }),
    ).toThrow(/logger/)
  })
})

describe('sync:start', () => {
  it('carries when the connection last synced, so freshness can be measured as sweeps reach it', async () => {
    const { clock, connection, scheduler } = await setup()
    const starts: SyncStartEvent[] = []
    scheduler.on('sync:start', (event) => starts.push(event))
    await scheduler.syncNow(connection.id)
    const firstAt = clock.now()
    await clock.advance(2 * MINUTE)
    await scheduler.runOnce()
    expect(starts.map((start) => start.lastSyncAt)).toEqual([null, firstAt])
  })
})
