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
})
