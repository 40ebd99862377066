import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import type { INestApplication } from '@nestjs/common'
import { Test } from '@nestjs/testing'
import { BullmqScheduler } from '@syncfolio/bullmq'
import { InvalidOptionError, MemoryStore, type Scheduler, SyncScheduler } from '@syncfolio/core'
import { recordingAdapter } from '@syncfolio/testing'
import { type RedisServer, startRedis } from '@syncfolio/testing/services'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { SYNCFOLIO_SCHEDULER, SyncfolioModule, type SyncfolioModuleOptions } from '../index.js'

const KEYS = { apiKey: 'AK-nest-given-1a2b3c', secret: 'SK-nest-given-3c2b1a' }
const BTC = [{ asset: 'BTC', free: '1', used: '0', total: '1' }]
type HeaderRequest = { headers: Record<string, string | string[] | undefined> }
const resolveUser = (req: HeaderRequest) => {
  const user = req.headers['x-user']
  return typeof user === 'string' ? user : null
}

let redis: RedisServer
const apps: INestApplication[] = []
const schedulers: Scheduler[] = []

beforeAll(async () => {
  // Throws (never skips) without a redis-server.
  redis = await startRedis()
})
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop({ timeoutMs: 1_000 })))
})
afterAll(() => redis?.stop())

async function serve(options: SyncfolioModuleOptions<HeaderRequest>) {
  const moduleRef = await Test.createTestingModule({ imports: [SyncfolioModule.forRoot(options)] }).compile()
  const app = moduleRef.createNestApplication({ logger: false })
  apps.push(app)
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  return { app, moduleRef, base: `http://127.0.0.1:${port}` }
}

describe('SyncfolioModule with a scheduler you built', () => {
  it('runs a BullmqScheduler: started on bootstrap, serving the API, stopped on shutdown', async () => {
    const store = new MemoryStore()
    const binance = recordingAdapter('binance', () => ({ balances: BTC }))
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    // Synced a moment ago: only the manual sync below runs it.
    const now = Date.now()
    await store.recordSuccess(connection.id, {
      balances: [],
      startedAt: now - 1,
      finishedAt: now,
      nextSyncAt: now + 3_600_000,
    })
    const scheduler = new BullmqScheduler({
      redis: { host: redis.host, port: redis.port },
      prefix: 'nest-given',
      store,
      exchanges: [binance],
      intervalMs: 3_600_000,
      limits: { binance: { budgets: [] } },
      workerId: 'nest-worker',
    })
    schedulers.push(scheduler)
    const { app, moduleRef, base } = await serve({ scheduler, store, resolveUser })
    expect(moduleRef.get(SYNCFOLIO_SCHEDULER)).toBe(scheduler)

    const events: unknown[] = []
    scheduler.on('sync:success', (event) => events.push(event))
    const response = await fetch(`${base}/syncfolio/connections/${connection.id}/sync`, {
      method: 'POST',
      headers: { 'x-user': 'alice' },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ outcome: 'success', balances: BTC })
    expect(binance.calls).toHaveLength(1)
    await vi.waitFor(() => expect(events).toEqual([expect.objectContaining({ worker: 'nest-worker' })]))
    const health = await fetch(`${base}/syncfolio/health`)
    expect(health.status).toBe(200)

    await app.close()
    apps.length = 0
    // Stopped with the app: a manual sync now starts nothing.
    expect(await scheduler.syncNow(connection.id)).toMatchObject({ ok: false, error: { code: 'CANCELLED' } })
    expect(binance.calls).toHaveLength(1)
  })

  it('starts a given scheduler in role "api" too: its own role says what starting runs', async () => {
    const store = new MemoryStore()
    const start = vi.fn()
    const scheduler = {
      exchanges: ['binance'],
      start,
      stop: vi.fn(async () => {}),
      syncNow: vi.fn(),
      verifyCredentials: vi.fn(),
      markActive: vi.fn(),
      on: vi.fn(),
      off: vi.fn(),
      once: vi.fn(),
      stats: vi.fn(() => ({ inFlight: 0, queued: 0, exchanges: {} })),
      health: vi.fn(() => ({ ok: true, exchanges: {}, store: { ok: true, lastError: null } })),
    } as unknown as Scheduler
    await serve({ scheduler, store, resolveUser, role: 'api' })
    expect(start).toHaveBeenCalledTimes(1)
  })

  it('refuses options that would be ignored or contradict, naming them', () => {
    const store = new MemoryStore()
    const scheduler = new SyncScheduler({ store, exchanges: [recordingAdapter('binance', () => ({ balances: [] }))] })
    const attempts: [unknown, RegExp][] = [
      [{ scheduler, store, resolveUser, intervalMs: 1_000 }, /intervalMs.*belongs to the scheduler given/],
      [{ scheduler, resolveUser }, /store.*is required with `scheduler`/],
      [{ scheduler, store, resolveUser, role: 'api' }, /scheduler.*role "api" never runs the schedule/],
      [{ scheduler: { start() {} }, store, resolveUser }, /scheduler.*expected a scheduler/],
    ]
    for (const [options, message] of attempts) {
      const build = () => SyncfolioModule.forRoot(options as SyncfolioModuleOptions)
      expect(build).toThrow(InvalidOptionError)
      expect(build).toThrow(message)
    }
  })
})
