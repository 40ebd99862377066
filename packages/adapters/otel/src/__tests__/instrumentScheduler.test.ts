import { InvalidOptionError, MemoryStore, SyncError, type SyncFailureEvent, SyncScheduler } from '@syncfolio/core'
import { FakeClock, recordingAdapter } from '@syncfolio/testing'
import { describe, expect, it } from 'vitest'
import { instrumentScheduler } from '../instrumentScheduler.js'
import { histogramSummary, meterWithReader, valueSummary } from './collectingReader.js'

const MINUTE = 60_000

/**
 * Binance connections behave by their API key: `ok` answers after 1.5 s, `net` fails with NETWORK after 0.5 s,
 * `auth` is refused (AUTH_FAILED, disabled) after 0.25 s, `limited` gets a 30 s account Retry-After, `hang` never
 * answers. OKX answers at once, inside an exchange-wide budget of 3 per minute.
 */
async function setup() {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const after = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))
  const binance = recordingAdapter('binance', async ({ credentials, signal }) => {
    switch (credentials.apiKey) {
      case 'ok':
        await after(1500)
        return { balances: [] }
      case 'net':
        await after(500)
        throw new SyncError('NETWORK', 'socket hang up')
      case 'auth':
        await after(250)
        throw new SyncError('AUTH_FAILED', 'Invalid API-key')
      case 'limited':
        throw new SyncError('RATE_LIMITED', 'Too many requests', { retryAfterMs: 30_000, scope: 'account' })
      default:
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    }
  })
  const okx = recordingAdapter('okx')
  const scheduler = new SyncScheduler({
    store,
    clock,
    exchanges: [binance, okx],
    limits: {
      binance: { budgets: [] },
      okx: { cost: 1, budgets: [{ scope: 'exchange', limit: 3, windowMs: MINUTE, align: 'sliding' }] },
    },
  })
  scheduler.on('error', () => {})
  const add = (userId: string, exchange: string, apiKey: string) =>
    store.add({ userId, exchange, credentials: { apiKey, secret: `secret-${apiKey}` } })
  /** Runs `work` while fake time moves on by `ms`. */
  async function during<T>(work: Promise<T>, ms: number): Promise<T> {
    await clock.advance(ms)
    return work
  }
  return { clock, store, scheduler, add, during }
}

describe('instrumentScheduler', () => {
  it('records each sync duration by exchange, trigger and outcome, and leaves CANCELLED syncs out', async () => {
    const { scheduler, add, during } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    const failures: SyncFailureEvent[] = []
    scheduler.on('sync:failure', (event) => failures.push(event))
    const ok = await add('user-1', 'binance', 'ok')
    const net = await add('user-2', 'binance', 'net')
    const auth = await add('user-3', 'binance', 'auth')
    const hang = await add('user-4', 'binance', 'hang')

    expect(await during(scheduler.syncNow(ok.id), 1500)).toMatchObject({ ok: true })
    expect(await during(scheduler.syncNow(ok.id), 1500)).toMatchObject({ ok: true })
    expect(await during(scheduler.syncNow(net.id), 500)).toMatchObject({ ok: false, error: { code: 'NETWORK' } })
    expect(await during(scheduler.syncNow(auth.id), 250)).toMatchObject({ ok: false, error: { code: 'AUTH_FAILED' } })
    const hanging = scheduler.syncNow(hang.id)
    await during(Promise.resolve(), 10)
    const stopped = scheduler.stop({ timeoutMs: 1000 })
    await during(stopped, 5000)
    expect(await hanging).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
    // The cancelled sync did happen and was reported; the instrument leaves it out on purpose.
    expect(failures.map((event) => event.error.code)).toEqual(['NETWORK', 'AUTH_FAILED', 'CANCELLED'])

    const collected = await collect()
    const manual = { 'syncfolio.exchange': 'binance', 'syncfolio.trigger': 'manual' }
    expect(histogramSummary(collected.points('syncfolio.sync.duration'))).toEqual([
      { attributes: { ...manual, 'syncfolio.outcome': 'AUTH_FAILED' }, count: 1, sum: 0.25 },
      { attributes: { ...manual, 'syncfolio.outcome': 'NETWORK' }, count: 1, sum: 0.5 },
      { attributes: { ...manual, 'syncfolio.outcome': 'ok' }, count: 2, sum: 3 },
    ])
    expect(valueSummary(collected.points('syncfolio.connections.disabled'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'binance' }, value: 1 },
    ])
  })

  it('records how stale each connection was when a sweep reached it again, and nothing for first syncs', async () => {
    const { clock, scheduler, add, during } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    await add('user-1', 'binance', 'ok')
    await add('user-2', 'okx', 'k-1')
    // First sweep: both connections never synced, so there is no age to observe.
    await during(scheduler.runOnce(), 1500)
    expect((await collect()).points('syncfolio.connection.age')).toEqual([])
    // Binance started its sync at t=0, OKX at t=0; the next sweep starts at t=2 min.
    await clock.advance(2 * MINUTE - 1500)
    await during(scheduler.runOnce(), 1500)
    const collected = await collect()
    expect(histogramSummary(collected.points('syncfolio.connection.age'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'binance' }, count: 1, sum: 120 },
      { attributes: { 'syncfolio.exchange': 'okx' }, count: 1, sum: 120 },
    ])
    const sweep = { 'syncfolio.trigger': 'sweep', 'syncfolio.outcome': 'ok' }
    expect(histogramSummary(collected.points('syncfolio.sync.duration'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'binance', ...sweep }, count: 2, sum: 3 },
      { attributes: { 'syncfolio.exchange': 'okx', ...sweep }, count: 2, sum: 0 },
    ])
  })

  it('a manual sync of a connection synced before observes no age: only sweeps say how stale portfolios get', async () => {
    const { scheduler, add, during } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    const ok = await add('user-1', 'binance', 'ok')
    await during(scheduler.syncNow(ok.id), 1500)
    await during(scheduler.syncNow(ok.id), 1500)
    expect((await collect()).points('syncfolio.connection.age')).toEqual([])
  })

  it('records each rate-limit wait by exchange, scope and reason: an account Retry-After and an exchange budget', async () => {
    const { clock, scheduler, add } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    const limited = await add('user-1', 'binance', 'limited')
    expect(await scheduler.syncNow(limited.id)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } })
    // Four OKX connections against a budget of 3 per minute: the fourth waits for the window to slide.
    for (let n = 0; n < 4; n++) await add(`user-${n + 2}`, 'okx', `k-${n}`)
    await clock.advance(1000)
    const sweep = scheduler.runOnce()
    await clock.advance(MINUTE)
    await sweep

    const collected = await collect()
    expect(histogramSummary(collected.points('syncfolio.ratelimit.wait'))).toEqual([
      {
        attributes: {
          'syncfolio.exchange': 'binance',
          'syncfolio.scope': 'account',
          'syncfolio.reason': 'retry-after',
        },
        count: 1,
        sum: 30,
      },
      {
        attributes: { 'syncfolio.exchange': 'okx', 'syncfolio.scope': 'exchange', 'syncfolio.reason': 'budget' },
        count: 1,
        sum: 60,
      },
    ])
    expect(histogramSummary(collected.points('syncfolio.sync.duration'))).toEqual([
      {
        attributes: {
          'syncfolio.exchange': 'binance',
          'syncfolio.trigger': 'manual',
          'syncfolio.outcome': 'RATE_LIMITED',
        },
        count: 1,
        sum: 0,
      },
      {
        attributes: { 'syncfolio.exchange': 'okx', 'syncfolio.trigger': 'sweep', 'syncfolio.outcome': 'ok' },
        count: 4,
        sum: 0,
      },
    ])
  })

  it('observes the budget left per exchange that has one, at each collection', async () => {
    const { scheduler, add } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    // Binance runs without a budget (budgetLeft null): no point for it.
    expect(valueSummary((await collect()).points('syncfolio.budget.remaining'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'okx' }, value: 3 },
    ])
    const first = await add('user-1', 'okx', 'k-1')
    const second = await add('user-2', 'okx', 'k-2')
    await scheduler.syncNow(first.id)
    await scheduler.syncNow(second.id)
    expect(valueSummary((await collect()).points('syncfolio.budget.remaining'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'okx' }, value: 1 },
    ])
  })

  it('never puts a connection id, a user id or a key in an attribute', async () => {
    const { clock, scheduler, store, add, during } = await setup()
    const { meter, collect } = meterWithReader()
    instrumentScheduler(scheduler, { meter })
    const connections = [
      await add('user-ok', 'binance', 'ok'),
      await add('user-net', 'binance', 'net'),
      await add('user-auth', 'binance', 'auth'),
      await add('user-limited', 'binance', 'limited'),
      ...(await Promise.all([1, 2, 3, 4].map((n) => add(`user-okx-${n}`, 'okx', `k-${n}`)))),
    ]
    await during(scheduler.runOnce(), 2 * MINUTE)
    await clock.advance(5 * MINUTE)
    await during(scheduler.runOnce(), 2 * MINUTE)
    expect(await store.get(connections[2]?.id ?? '')).toMatchObject({ status: 'error' })

    const collected = await collect()
    expect(collected.names().sort()).toEqual([
      'syncfolio.budget.remaining',
      'syncfolio.connection.age',
      'syncfolio.connections.disabled',
      'syncfolio.ratelimit.wait',
      'syncfolio.sync.duration',
    ])
    const attributes = collected.allAttributes()
    const keys = new Set(attributes.flatMap((set) => Object.keys(set)))
    expect([...keys].sort()).toEqual([
      'syncfolio.exchange',
      'syncfolio.outcome',
      'syncfolio.reason',
      'syncfolio.scope',
      'syncfolio.trigger',
    ])
    const values = attributes.flatMap((set) => Object.values(set)).map(String)
    for (const connection of connections) {
      expect(values).not.toContain(connection.id)
      expect(values).not.toContain(connection.userId)
    }
    expect(values.join(' ')).not.toMatch(/user-|secret-|k-\d/)
  })

  it('dispose() stops recording: no listener left on the scheduler, no gauge callback left', async () => {
    const { scheduler, add, during } = await setup()
    const { meter, collect } = meterWithReader()
    // Every listener instrumentScheduler adds, and every one it removes, by event and function.
    const added: Array<[string, unknown]> = []
    const removed: Array<[string, unknown]> = []
    const on = scheduler.on.bind(scheduler)
    const off = scheduler.off.bind(scheduler)
    scheduler.on = ((event: string, listener: unknown) => {
      added.push([event, listener])
      return on(event as never, listener as never)
    }) as typeof scheduler.on
    scheduler.off = ((event: string, listener: unknown) => {
      removed.push([event, listener])
      return off(event as never, listener as never)
    }) as typeof scheduler.off
    const dispose = instrumentScheduler(scheduler, { meter })
    expect(added.map(([event]) => event).sort()).toEqual([
      'connection:disabled',
      'ratelimit',
      'sync:failure',
      'sync:start',
      'sync:success',
    ])
    const ok = await add('user-1', 'binance', 'ok')
    await during(scheduler.syncNow(ok.id), 1500)
    const recorded = histogramSummary((await collect()).points('syncfolio.sync.duration'))
    expect(recorded).toHaveLength(1)

    dispose()
    dispose()
    expect(removed).toEqual(added)
    await during(scheduler.syncNow(ok.id), 1500)
    const limited = await add('user-2', 'binance', 'limited')
    const auth = await add('user-3', 'binance', 'auth')
    await scheduler.syncNow(limited.id)
    await during(scheduler.syncNow(auth.id), 250)
    // OKX spends budget after dispose: a callback still registered would read it from stats().
    const spender = await add('user-4', 'okx', 'k-1')
    await scheduler.syncNow(spender.id)
    const stats = scheduler.stats.bind(scheduler)
    let statsCalls = 0
    scheduler.stats = () => {
      statsCalls++
      return stats()
    }
    const after = await collect()
    expect(statsCalls).toBe(0)
    // Cumulative points keep what was recorded before; nothing new joins them.
    expect(histogramSummary(after.points('syncfolio.sync.duration'))).toEqual(recorded)
    expect(after.points('syncfolio.ratelimit.wait')).toEqual([])
    expect(after.points('syncfolio.connections.disabled')).toEqual([])
    // The SDK keeps the last value observed before dispose (3), never the budget spent after it (2).
    expect(valueSummary(after.points('syncfolio.budget.remaining'))).toEqual([
      { attributes: { 'syncfolio.exchange': 'okx' }, value: 3 },
    ])
    expect(scheduler.stats().exchanges.okx?.budgetLeft).toBe(2)
  })

  it('two instrumentations of one scheduler record on their own, and disposing one leaves the other', async () => {
    const { scheduler, add, during } = await setup()
    const first = meterWithReader()
    const second = meterWithReader()
    const disposeFirst = instrumentScheduler(scheduler, { meter: first.meter })
    instrumentScheduler(scheduler, { meter: second.meter })
    const ok = await add('user-1', 'binance', 'ok')
    await during(scheduler.syncNow(ok.id), 1500)
    disposeFirst()
    await during(scheduler.syncNow(ok.id), 1500)
    const count = async (reader: typeof first) =>
      histogramSummary((await reader.collect()).points('syncfolio.sync.duration')).map((point) => point.count)
    expect(await count(first)).toEqual([1])
    expect(await count(second)).toEqual([2])
  })

  it('validates its options once, naming instrumentScheduler and the field', async () => {
    const { scheduler } = await setup()
    const { meter } = meterWithReader()
    const attempt = (run: () => unknown) => {
      try {
        run()
      } catch (error) {
        return error
      }
      throw new Error('expected a throw')
    }
    const missing = attempt(() => instrumentScheduler(scheduler, {} as never))
    expect(missing).toBeInstanceOf(InvalidOptionError)
    expect(missing).toMatchObject({ field: 'meter' })
    expect((missing as Error).message).toMatch(
      /^instrumentScheduler: option "meter" is invalid: expected an OpenTelemetry Meter/,
    )
    expect(attempt(() => instrumentScheduler(scheduler, { meter: {} as never }))).toMatchObject({ field: 'meter' })
    expect(attempt(() => instrumentScheduler(scheduler, { meter, labels: {} } as never))).toMatchObject({
      field: 'labels',
      message: expect.stringContaining('is not an option of instrumentScheduler'),
    })
    expect(attempt(() => instrumentScheduler(scheduler, undefined as never))).toMatchObject({ field: '(options)' })
    const notScheduler = attempt(() => instrumentScheduler({} as never, { meter }))
    expect(notScheduler).toBeInstanceOf(InvalidOptionError)
    expect(notScheduler).toMatchObject({ field: 'scheduler' })
    expect((notScheduler as Error).message).toContain('instrumentScheduler')
  })
})
