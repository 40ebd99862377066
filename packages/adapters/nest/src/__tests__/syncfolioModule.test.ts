import { Agent, request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  type LoggerService,
  Module,
} from '@nestjs/common'
import type { NestApplicationOptions } from '@nestjs/common/interfaces/nest-application-options.interface.js'
import { Test, type TestingModule } from '@nestjs/testing'
import {
  type Balance,
  type FetchBalancesResult,
  InvalidOptionError,
  MemoryStore,
  type SchedulerLogger,
  SyncError,
  SyncScheduler,
  type SyncStore,
} from '@syncfolio/core'
import { deferred, FakeClock, recordingAdapter } from '@syncfolio/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  nestSchedulerLogger,
  SYNCFOLIO_SCHEDULER,
  SYNCFOLIO_STORE,
  SyncfolioHealthCheckError,
  SyncfolioHealthIndicator,
  SyncfolioModule,
  type SyncfolioModuleOptions,
} from '../index.js'
import { SyncfolioRuntime } from '../syncfolioRuntime.js'

const KEYS = { apiKey: 'AK-nest-a1b2c3d4e5f6', secret: 'SK-nest-f6e5d4c3b2a1' }
const BTC: Balance = { asset: 'BTC', free: '0.5', used: '0.25', total: '0.75' }
const MINUTE = 60_000

/** The request after the app's guard: `req.user` set from a header, as passport would from a session. */
type GuardedRequest = IncomingMessage & { user?: { id: string } }
const resolveUser = (req: GuardedRequest) => req.user?.id ?? null

/** The host app's auth: `x-user` stands in for a session; `x-deny` makes it refuse the request outright. */
@Injectable()
class UserHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<GuardedRequest>()
    const id = req.headers['x-user']
    if (typeof id === 'string' && id !== '') req.user = { id }
    return req.headers['x-deny'] === undefined
  }
}

interface LogEntry {
  level: 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal'
  message: string
  context: string | undefined
  extra: unknown[]
}

/** A Nest LoggerService that keeps what it is given: what the app's own logger would receive. */
class CapturingLogger implements LoggerService {
  readonly entries: LogEntry[] = []
  log = (message: unknown, ...rest: unknown[]) => this.#keep('log', message, rest)
  error = (message: unknown, ...rest: unknown[]) => this.#keep('error', message, rest)
  warn = (message: unknown, ...rest: unknown[]) => this.#keep('warn', message, rest)
  debug = (message: unknown, ...rest: unknown[]) => this.#keep('debug', message, rest)
  verbose = (message: unknown, ...rest: unknown[]) => this.#keep('verbose', message, rest)
  fatal = (message: unknown, ...rest: unknown[]) => this.#keep('fatal', message, rest)

  /** Entries of the syncfolio module (Nest's own lines left out). */
  get syncfolio(): LogEntry[] {
    return this.entries.filter((entry) => entry.context === 'Syncfolio')
  }

  #keep(level: LogEntry['level'], message: unknown, rest: unknown[]): void {
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined
    this.entries.push({ level, message: String(message), context, extra: rest.slice(0, -1) })
  }
}

interface CallInit {
  /** Sent as `x-user`, which the app's guard turns into `req.user`; null sends none. @default 'alice' */
  user?: string | null
  body?: unknown
  headers?: Record<string, string>
}

async function send(base: string, method: string, path: string, init: CallInit = {}) {
  const { user = 'alice', body, headers = {} } = init
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(user !== null && { 'x-user': user }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined }
}

interface Started {
  app: INestApplication
  moduleRef: TestingModule
  logger: CapturingLogger
  base: string
  scheduler: SyncScheduler
  call: (method: string, path: string, init?: CallInit) => ReturnType<typeof send>
}

const apps: INestApplication[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

async function compile(imports: DynamicModule[], logger = new CapturingLogger()) {
  const moduleRef = await Test.createTestingModule({ imports }).setLogger(logger).compile()
  return { moduleRef, logger }
}

/** Compiles the module into an app with a real HTTP server on 127.0.0.1, as a host app would run it. */
async function start(
  module: DynamicModule,
  {
    prefix,
    appOptions = {},
    configure,
  }: { prefix?: string; appOptions?: NestApplicationOptions; configure?: (app: INestApplication) => void } = {},
): Promise<Started> {
  const { moduleRef, logger } = await compile([module])
  const app = moduleRef.createNestApplication(appOptions)
  app.useLogger(logger)
  configure?.(app)
  if (prefix !== undefined) app.setGlobalPrefix(prefix)
  apps.push(app)
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  const base = `http://127.0.0.1:${port}`
  const call: Started['call'] = (method, path, init) => send(base, method, path, init)
  return { app, moduleRef, logger, base, call, scheduler: moduleRef.get(SYNCFOLIO_SCHEDULER) }
}

function fixture(handler: Parameters<typeof recordingAdapter>[1] = () => ({ balances: [BTC] })) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const binance = recordingAdapter('binance', handler)
  const options = {
    store,
    exchanges: [binance],
    clock,
    guards: [UserHeaderGuard],
    resolveUser,
  } satisfies SyncfolioModuleOptions<GuardedRequest>
  return { clock, store, binance, options }
}

describe('SyncfolioModule lifecycle', () => {
  it('starts the schedule on application bootstrap, not when the module is compiled', async () => {
    const { clock, store, binance, options } = fixture()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const { moduleRef, logger } = await compile([SyncfolioModule.forRoot(options)])
    await clock.advance(5 * MINUTE)
    expect(binance.calls).toHaveLength(0)

    const app = moduleRef.createNestApplication()
    apps.push(app)
    await app.init()
    await clock.advanceUntil(() => binance.calls.length === 1)
    expect(binance.calls[0]?.connectionId).toBe(connection.id)
    expect(moduleRef.get(SYNCFOLIO_SCHEDULER)).toBeInstanceOf(SyncScheduler)
    expect(moduleRef.get(SYNCFOLIO_STORE)).toBe(store)
    expect(logger.syncfolio.map((entry) => entry.message)).toContain('Syncing binance in the background (role "all")')
    // Routes map without Nest's warnings (a wildcard route would draw "Unsupported route path" on Express 5).
    expect(logger.entries.filter((entry) => entry.level === 'warn' || entry.level === 'error')).toEqual([])
    expect(logger.entries.map((entry) => entry.message)).toContain(
      'Mapped {/syncfolio/connections/:id/sync, ALL} route',
    )
  })

  it('app.close() waits for the syncs in flight, refuses manual syncs meanwhile, and starts nothing after', async () => {
    const gate = deferred<FetchBalancesResult>()
    const { clock, store, binance, options } = fixture(({ connection }) =>
      connection.label === 'slow' ? gate.promise : { balances: [BTC] },
    )
    const slow = await store.add({ userId: 'alice', exchange: 'binance', label: 'slow', credentials: KEYS })
    const quick = await store.add({ userId: 'alice', exchange: 'binance', label: 'quick', credentials: KEYS })
    const { app, call, logger } = await start(SyncfolioModule.forRoot(options))
    await clock.advanceUntil(() => binance.calls.length === 2 && binance.inFlight === 1)

    let closed = false
    const closing = app.close().then(() => {
      closed = true
    })
    // The drain has begun once the module says what it waits for; the HTTP server still answers until it ends.
    await vi.waitFor(() => expect(logger.syncfolio.map((entry) => entry.message)).toContain(drainLine(1, 30_000)))
    const manual = await call('POST', `/syncfolio/connections/${quick.id}/sync`)
    expect(manual.status).toBe(200)
    expect(manual.json).toMatchObject({ outcome: 'failure', error: { code: 'CANCELLED' } })
    const added = await call('POST', '/syncfolio/connections', { body: { exchange: 'binance', credentials: KEYS } })
    expect(added.status).toBe(502)
    expect(binance.calls).toHaveLength(2)
    expect(closed).toBe(false)
    expect(binance.inFlight).toBe(1)

    gate.resolve({ balances: [BTC] })
    await closing
    // Drained, not aborted: the slow sync's result was recorded.
    expect((await store.get(slow.id))?.lastSyncAt).not.toBeNull()
    await clock.advance(30 * MINUTE)
    expect(binance.calls).toHaveLength(2)
  })

  it('starts no sync and calls no exchange between the end of the drain and the close of the HTTP server', async () => {
    const { clock, store, binance, options } = fixture()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const { call, moduleRef, scheduler } = await start(SyncfolioModule.forRoot({ ...options, role: 'api' }))
    // What Nest runs in app.close() before it closes the server; the server still answers here.
    await moduleRef.get(SyncfolioRuntime).beforeApplicationShutdown()
    expect(scheduler.stats().inFlight).toBe(0)
    const manual = await call('POST', `/syncfolio/connections/${connection.id}/sync`)
    expect(manual.json).toMatchObject({ outcome: 'failure', error: { code: 'CANCELLED' } })
    const added = await call('POST', '/syncfolio/connections', { body: { exchange: 'binance', credentials: KEYS } })
    expect(added.status).toBe(502)
    expect(added.json.error.message).toContain('shutting down')
    await clock.advance(30 * MINUTE)
    expect(binance.calls).toHaveLength(0)
  })

  it('aborts syncs still running after shutdownTimeoutMs, so a hanging exchange cannot hold the shutdown', async () => {
    const { clock, store, binance, options } = fixture(() => new Promise<never>(() => {}))
    await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const module = SyncfolioModule.forRoot({ ...options, shutdownTimeoutMs: 5_000, timeoutMs: 60_000 })
    const { app, logger } = await start(module)
    await clock.advanceUntil(() => binance.inFlight === 1)
    let closed = false
    const closing = app.close().then(() => {
      closed = true
    })
    // Logged just before the drain starts its timer on the fake clock.
    await vi.waitFor(() => expect(logger.syncfolio.map((entry) => entry.message)).toContain(drainLine(1, 5_000)))
    await clock.advance(4_000)
    expect(closed).toBe(false)
    expect(binance.calls[0]?.signal.aborted).toBe(false)
    await clock.advance(1_000)
    await closing
    expect(binance.calls[0]?.signal.aborted).toBe(true)
  })

  it('ends open event streams on close, after the drain, so the HTTP server can close', async () => {
    const { clock, store, options } = fixture()
    const alices = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const { app, base, scheduler } = await start(SyncfolioModule.forRoot({ ...options, role: 'api' }))
    const response = await fetch(`${base}/syncfolio/events`, { headers: { 'x-user': 'alice' } })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let text = ''
    // Bob's sync first: were it relayed to Alice, it would arrive before hers.
    await scheduler.syncNow(bobs.id)
    await scheduler.syncNow(alices.id)
    while (!text.includes(alices.id)) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`The stream ended early: ${text}`)
      text += decoder.decode(value, { stream: true })
    }
    expect(text).toContain('sync:success')
    expect(text).not.toContain(bobs.id)

    await app.close()
    for (;;) if ((await reader.read()).done) break
    expect(clock.pending).toBe(0)
  })
})

describe('the HTTP API through Nest', () => {
  it('serves the signed-in user under the global prefix and path, behind the module guards', async () => {
    const { store, options } = fixture()
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const { call } = await start(SyncfolioModule.forRoot({ ...options, path: 'portfolio/sync' }), { prefix: 'api' })
    const at = (path: string) => `/api/portfolio/sync${path}`

    expect((await call('GET', at('/exchanges'))).json).toEqual({ exchanges: ['binance'] })
    const added = await call('POST', at('/connections'), {
      body: { exchange: 'binance', label: 'Main', credentials: KEYS },
    })
    expect(added.status).toBe(201)
    expect(added.text).not.toContain(KEYS.secret)
    const id = added.json.connection.id as string
    expect((await store.get(id))?.userId).toBe('alice')
    expect((await call('GET', at('/connections'))).json.connections.map((c: { id: string }) => c.id)).toEqual([id])
    expect(
      (await call('GET', at('/connections'), { user: 'bob' })).json.connections.map((c: { id: string }) => c.id),
    ).toEqual([bobs.id])

    const synced = await call('POST', at(`/connections/${id}/sync`))
    expect(synced.json).toMatchObject({ outcome: 'success', balances: [BTC] })
    const again = await call('POST', at(`/connections/${id}/sync`))
    expect(again.status).toBe(429)
    expect(again.headers.get('retry-after')).toBe('15')
    expect((await call('GET', at(`/connections/${id}`))).json.balances).toEqual([BTC])
    const holdings = await call('GET', at(`/holdings?connectionIds=${id}`))
    expect(holdings.json).toMatchObject({ holdings: [{ asset: 'BTC', total: '0.75' }], connectionIds: [id] })
    const fresh = { apiKey: 'AK-nest-new-000111', secret: 'SK-nest-new-222333' }
    expect((await call('PUT', at(`/connections/${id}/credentials`), { body: { credentials: fresh } })).status).toBe(200)
    expect(await store.getCredentials(id)).toEqual(fresh)
    expect((await call('DELETE', at(`/connections/${id}`))).status).toBe(204)
    expect(await store.get(id)).toBeNull()
  })

  it("keeps the API's 401 and 404 rules: no user is 401, another user's connection is the 404 of a missing one", async () => {
    const { store, options } = fixture()
    const bobs = await store.add({ userId: 'bob', exchange: 'binance', credentials: KEYS })
    const { call } = await start(SyncfolioModule.forRoot(options))
    const anonymous = await call('GET', '/syncfolio/connections', { user: null })
    expect(anonymous.status).toBe(401)
    expect(anonymous.json.error.code).toBe('UNAUTHORIZED')
    const theirs = await call('GET', `/syncfolio/connections/${bobs.id}`)
    const missing = await call('GET', '/syncfolio/connections/no-such-id')
    expect(theirs.status).toBe(404)
    expect(theirs.text).toBe(missing.text)
    expect((await call('DELETE', `/syncfolio/connections/${bobs.id}`)).status).toBe(404)
    expect((await call('POST', `/syncfolio/connections/${bobs.id}/sync`)).status).toBe(404)
    expect(await store.get(bobs.id)).not.toBeNull()
    // An encoded slash stays inside the id: it is a connection id that does not exist, not another route.
    const slashed = await call('GET', `/syncfolio/connections/${encodeURIComponent(`${bobs.id}/sync`)}`)
    expect(slashed.status).toBe(404)
    expect(slashed.text).toBe(missing.text)
  })

  it('runs the guards before the handler: a refused request never reaches the store', async () => {
    const { store, options } = fixture()
    const listByUser = vi.spyOn(store, 'listByUser')
    const { call } = await start(SyncfolioModule.forRoot(options))
    const refused = await call('GET', '/syncfolio/connections', { headers: { 'x-deny': '1' } })
    expect(refused.status).toBe(403)
    expect(listByUser).not.toHaveBeenCalled()
    expect((await call('GET', '/syncfolio/connections')).status).toBe(200)
    expect(listByUser).toHaveBeenCalledWith('alice')
  })

  it('mounts every route of the core handler and nothing else', async () => {
    const { options } = fixture()
    const { call } = await start(SyncfolioModule.forRoot(options))
    const routes: Array<[string, string]> = [
      ['GET', '/exchanges'],
      ['GET', '/connections'],
      ['GET', '/connections/some-id'],
      ['PUT', '/connections/some-id/credentials'],
      ['POST', '/connections/some-id/sync'],
      ['GET', '/holdings'],
      ['GET', '/events'],
    ]
    for (const [method, path] of routes) {
      const answer = await call(method, `/syncfolio${path}`, { user: null })
      expect([method, path, answer.status, answer.json?.error?.code]).toEqual([method, path, 401, 'UNAUTHORIZED'])
    }
    const wrongMethod = await call('PATCH', '/syncfolio/connections')
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST')
    const elsewhere = await call('GET', '/syncfolio/connections/some-id/balances')
    expect(elsewhere.status).toBe(404)
    expect(elsewhere.json.message).toBe('Cannot GET /syncfolio/connections/some-id/balances')
  })

  it.each([
    ['with Nest body parser (the default)', {}],
    ['with rawBody: true', { rawBody: true }],
    ['with bodyParser: false (the body streams into the handler)', { bodyParser: false }],
  ] as Array<[string, NestApplicationOptions]>)(
    'reads JSON bodies %s and enforces maxBodyBytes',
    async (_, appOptions) => {
      const { options, store } = fixture()
      const { call } = await start(SyncfolioModule.forRoot({ ...options, maxBodyBytes: 1_024 }), { appOptions })
      const added = await call('POST', '/syncfolio/connections', {
        body: { exchange: 'binance', label: 'Main', credentials: KEYS },
      })
      expect(added.status).toBe(201)
      expect(await store.getCredentials(added.json.connection.id)).toEqual(KEYS)
      const tooLarge = await call('POST', '/syncfolio/connections', {
        body: { exchange: 'binance', label: 'x'.repeat(2_000), credentials: KEYS },
      })
      expect(tooLarge.status).toBe(413)
      expect(tooLarge.json.error.code).toBe('PAYLOAD_TOO_LARGE')
      const invalid = await call('POST', '/syncfolio/connections', { body: { exchange: 'kraken', credentials: KEYS } })
      expect(invalid.status).toBe(400)
      expect(invalid.json.error.issues[0].path).toEqual(['exchange'])
      const notJson = await call('POST', '/syncfolio/connections', {
        body: 'exchange=binance',
        headers: { 'content-type': 'text/plain' },
      })
      expect(notJson.status).toBe(415)
    },
  )
})

describe('forRootAsync', () => {
  class AppConfig {
    readonly clock = new FakeClock()
    readonly store = new MemoryStore()
    readonly binance = recordingAdapter('binance', () => ({ balances: [BTC] }))
    readonly intervalMs = 10 * MINUTE
  }

  /** A ConfigModule-like module: the config is built by its own async factory and exported. */
  @Module({ providers: [{ provide: AppConfig, useFactory: async () => new AppConfig() }], exports: [AppConfig] })
  class ConfigModule {}

  it('takes its options from a provider of another module', async () => {
    const factory = vi.fn(async (config: AppConfig) => ({
      store: config.store,
      exchanges: [config.binance],
      intervalMs: config.intervalMs,
      clock: config.clock,
      resolveUser,
    }))
    const module = SyncfolioModule.forRootAsync({
      path: 'portfolio',
      guards: [UserHeaderGuard],
      imports: [ConfigModule],
      inject: [AppConfig],
      useFactory: factory,
    })
    const { moduleRef, call } = await start(module)
    const config = moduleRef.get(AppConfig)
    expect(factory).toHaveBeenCalledExactlyOnceWith(config)
    expect(moduleRef.get(SYNCFOLIO_STORE)).toBe(config.store)
    await config.store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    expect((await call('GET', '/portfolio/connections')).json.connections).toHaveLength(1)
    // The config's 10-minute interval, not the 1-minute default: about 3 syncs in 25 minutes, not about 25.
    await config.clock.advance(25 * MINUTE)
    expect(config.binance.calls.length).toBeGreaterThanOrEqual(2)
    expect(config.binance.calls.length).toBeLessThanOrEqual(4)
  })

  it('refuses a path, role, guards or global returned by the factory: they shape the module before it runs', async () => {
    const config = new AppConfig()
    const module = SyncfolioModule.forRootAsync({
      useFactory: () => ({ store: config.store, exchanges: [config.binance], resolveUser, path: 'elsewhere' }),
    })
    const failure = await compile([module]).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(InvalidOptionError)
    expect(failure).toMatchObject({ field: 'path', received: 'elsewhere' })
  })
})

describe('roles', () => {
  it('role "api" serves the API and never runs the background schedule; a manual sync runs here', async () => {
    const { clock, store, binance, options } = fixture()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const { call, scheduler, logger } = await start(SyncfolioModule.forRoot({ ...options, role: 'api' }))
    await clock.advance(30 * MINUTE)
    expect(binance.calls).toHaveLength(0)
    expect(scheduler.stats().sweeping).toBe(false)
    expect((await call('GET', '/syncfolio/connections')).json.connections).toHaveLength(1)
    expect(logger.syncfolio.map((entry) => entry.message)).toContain(
      'Serving the API for binance; the schedule runs elsewhere (role "api")',
    )

    const manual = await call('POST', `/syncfolio/connections/${connection.id}/sync`)
    expect(manual.json.outcome).toBe('success')
    await clock.advance(30 * MINUTE)
    expect(binance.calls).toHaveLength(1)
  })

  it('role "scheduler" runs the schedule and serves no routes; it needs no resolveUser', async () => {
    const { clock, store, binance } = fixture()
    await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const { call } = await start(SyncfolioModule.forRoot({ store, exchanges: [binance], clock, role: 'scheduler' }))
    await clock.advanceUntil(() => binance.calls.length === 1)
    const answer = await call('GET', '/syncfolio/connections')
    expect(answer.status).toBe(404)
    expect(answer.json.message).toBe('Cannot GET /syncfolio/connections')
  })
})

/** A store whose scheduling reads fail until `heal()`: what a database outage looks like to the scheduler. */
class FailingStore extends MemoryStore {
  #failing = true
  heal() {
    this.#failing = false
  }
  override async listDue(...args: Parameters<SyncStore['listDue']>) {
    if (this.#failing) throw new Error('connect ECONNREFUSED postgres://app:hunter2@db:5432/prod')
    return super.listDue(...args)
  }
}

describe('GET health through Nest', () => {
  /** The app's auth, counted: a probe must never reach it. */
  const refusingAuth = () =>
    vi.fn((_req: GuardedRequest): string | null => {
      throw new Error('resolveUser must not run for health')
    })

  it("serves the scheduler's health under the prefix and path, outside the module guards, without resolveUser", async () => {
    const { clock, store, binance, options } = fixture()
    await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const auth = refusingAuth()
    const { call, scheduler } = await start(SyncfolioModule.forRoot({ ...options, resolveUser: auth }), {
      prefix: 'api',
    })
    await clock.advanceUntil(() => binance.calls.length === 1 && scheduler.stats().sweeping === false)
    // No session, and a request the module guard would refuse: a probe gets its answer all the same.
    const health = await call('GET', '/api/syncfolio/health', { user: null, headers: { 'x-deny': '1' } })
    expect(health.status).toBe(200)
    expect(health.headers.get('cache-control')).toBe('no-store')
    expect(health.json).toEqual(scheduler.health())
    expect(health.json.exchanges.binance.lastSweepAt).not.toBeNull()
    expect(health.text).not.toMatch(/alice|AK-nest|SK-nest/)
    expect((await call('DELETE', '/api/syncfolio/health')).status).toBe(405)
    expect(auth).not.toHaveBeenCalled()
    // The guards still stand in front of every other route.
    expect((await call('GET', '/api/syncfolio/connections', { headers: { 'x-deny': '1' } })).status).toBe(403)
  })

  it('answers 503 while the store fails and 200 once it answers again', async () => {
    const clock = new FakeClock()
    const store = new FailingStore()
    const auth = refusingAuth()
    const { call, scheduler } = await start(
      SyncfolioModule.forRoot({ store, exchanges: [recordingAdapter('binance')], clock, resolveUser: auth }),
    )
    await scheduler.runOnce()
    const failing = await call('GET', '/syncfolio/health', { user: null })
    expect(failing.status).toBe(503)
    expect(failing.json).toMatchObject({ ok: false, store: { ok: false } })
    expect(failing.text).not.toContain('hunter2')
    store.heal()
    await scheduler.runOnce()
    expect((await call('GET', '/syncfolio/health', { user: null })).status).toBe(200)
    expect(auth).not.toHaveBeenCalled()
  })
})

describe('SyncfolioHealthIndicator', () => {
  it("answers terminus's up result with the scheduler's health, under syncfolio or the key given", async () => {
    const { options } = fixture()
    const { moduleRef } = await compile([SyncfolioModule.forRoot(options)])
    const indicator = moduleRef.get(SyncfolioHealthIndicator)
    const scheduler = moduleRef.get<SyncScheduler>(SYNCFOLIO_SCHEDULER)
    expect(await indicator.isHealthy()).toEqual({ syncfolio: { status: 'up', ...scheduler.health() } })
    expect(Object.keys(await indicator.isHealthy('balances'))).toEqual(['balances'])
    await expect(indicator.isHealthy('')).rejects.toBeInstanceOf(InvalidOptionError)
  })

  it('throws what terminus takes for a down indicator (isHealthCheckError, causes) while the store fails', async () => {
    const store = new FailingStore()
    const { moduleRef } = await compile([
      SyncfolioModule.forRoot({ store, exchanges: [recordingAdapter('binance')], clock: new FakeClock(), resolveUser }),
    ])
    const indicator = moduleRef.get(SyncfolioHealthIndicator)
    const scheduler = moduleRef.get<SyncScheduler>(SYNCFOLIO_SCHEDULER)
    await scheduler.runOnce()
    const failure = await indicator.isHealthy().then(
      () => null,
      (error: unknown) => error,
    )
    expect(failure).toBeInstanceOf(SyncfolioHealthCheckError)
    const error = failure as SyncfolioHealthCheckError
    expect(error.isHealthCheckError).toBe(true)
    expect(error.message).toContain('the store is failing')
    expect(error.causes).toEqual({ syncfolio: { status: 'down', ...scheduler.health() } })
    expect(error.causes.syncfolio?.store.lastError?.message).toContain('store.listDue')
    expect(JSON.stringify(error.causes)).not.toContain('hunter2')
    store.heal()
    await scheduler.runOnce()
    expect((await indicator.isHealthy()).syncfolio.status).toBe('up')
  })

  it('can be injected by a module that imports SyncfolioModule', async () => {
    const { options } = fixture()
    class ProbeService {
      constructor(readonly syncfolio: SyncfolioHealthIndicator) {}
    }
    Injectable()(ProbeService)
    Reflect.defineMetadata('design:paramtypes', [SyncfolioHealthIndicator], ProbeService)
    class ProbeModule {}
    Module({ imports: [SyncfolioModule.forRoot(options)], providers: [ProbeService] })(ProbeModule)
    const moduleRef = await Test.createTestingModule({ imports: [ProbeModule] }).compile()
    const probe = moduleRef.get(ProbeService)
    expect(await probe.syncfolio.isHealthy()).toMatchObject({ syncfolio: { status: 'up', ok: true } })
  })
})

describe('logging through Nest Logger', () => {
  it("logs the scheduler's errors, warnings and disabled connections, and the API's failures, without secrets", async () => {
    class FlakyStore extends MemoryStore {
      failNext = true
      override async listDue(...args: Parameters<SyncStore['listDue']>) {
        if (this.failNext) {
          this.failNext = false
          throw new Error('the database is down')
        }
        return super.listDue(...args)
      }
    }
    const clock = new FakeClock()
    const store = new FlakyStore()
    const binance = recordingAdapter('binance', ({ credentials }) => {
      throw new SyncError('AUTH_FAILED', `Invalid API key ${credentials.apiKey}`)
    })
    // No limits are known for this id: the scheduler warns once and uses its fallback budget.
    const sandbox = recordingAdapter('sandbox', () => ({ balances: [BTC] }))
    const revoked = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    await store.add({ userId: 'alice', exchange: 'sandbox', credentials: KEYS })
    const { logger, call, scheduler } = await start(
      SyncfolioModule.forRoot({
        store,
        exchanges: [binance, sandbox],
        clock,
        resolveUser: (req: GuardedRequest) => {
          if (req.headers['x-user'] === 'crash') throw new Error('the session store is down')
          return null
        },
      }),
    )
    await clock.advanceUntil(() => scheduler.stats().sweeping === false && binance.calls.length > 0)
    await clock.advanceUntil(() => sandbox.calls.length > 0 && binance.calls.length > 0, { maxMs: 10 * MINUTE })
    expect((await call('GET', '/syncfolio/connections', { user: 'crash' })).status).toBe(500)

    const lines = logger.syncfolio
    const line = (level: LogEntry['level'], pattern: RegExp) =>
      lines.find((entry) => entry.level === level && pattern.test(entry.message))
    expect(line('error', /store\.listDue failed .*the database is down/)).toBeDefined()
    // Once: the module's own listeners do not write the scheduler's lines a second time.
    expect(lines.filter((entry) => /No rate limits are known for "sandbox"/.test(entry.message))).toHaveLength(1)
    expect(
      line('warn', new RegExp(`Connection ${revoked.id} of binance is out of the schedule \\(AUTH_FAILED`)),
    ).toBeDefined()
    expect(line('error', /The HTTP API failed: the session store is down/)).toBeDefined()
    const everything = JSON.stringify(logger.entries)
    expect(everything).not.toContain(KEYS.apiKey)
    expect(everything).not.toContain(KEYS.secret)
  })
})

describe("the scheduler's logger", () => {
  /** An exchange that pauses itself for 5 s on the first call: a line only the scheduler's logger writes. */
  function pausingFixture() {
    let calls = 0
    return fixture(() => {
      calls++
      if (calls === 1) throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 5_000, scope: 'exchange' })
      return { balances: [BTC] }
    })
  }
  const PAUSE_LINE = "binance is paused for 5 s at the exchange's request"

  it("is Nest's Logger (context Syncfolio) when the options give none", async () => {
    const { store, options } = pausingFixture()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const { scheduler, logger } = await start(SyncfolioModule.forRoot({ ...options, role: 'api' }))
    await scheduler.syncNow(connection.id)
    const pauses = logger.entries.filter((entry) => entry.message === PAUSE_LINE)
    expect(pauses).toEqual([{ level: 'warn', message: PAUSE_LINE, context: 'Syncfolio', extra: [] }])
  })

  it("fits Nest's Logger to a scheduler built outside the module, info as Nest's log", async () => {
    const nest = new CapturingLogger()
    const store = new MemoryStore()
    const binance = recordingAdapter('binance', () => {
      throw new SyncError('RATE_LIMITED', '429', { retryAfterMs: 5_000, scope: 'exchange' })
    })
    const scheduler = new SyncScheduler({ store, exchanges: [binance], logger: nestSchedulerLogger(nest) })
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    await scheduler.syncNow(connection.id)
    expect(nest.entries).toContainEqual({ level: 'warn', message: PAUSE_LINE, context: undefined, extra: [] })
    nestSchedulerLogger(nest).info('hello')
    expect(nest.entries.at(-1)).toMatchObject({ level: 'log', message: 'hello' })
  })

  it('is the logger in the options when they give one, and Nest then gets none of its lines', async () => {
    const { store, options } = pausingFixture()
    const connection = await store.add({ userId: 'alice', exchange: 'binance', credentials: KEYS })
    const lines: Array<[string, string]> = []
    const own: SchedulerLogger = {
      debug: (message) => lines.push(['debug', message]),
      info: (message) => lines.push(['info', message]),
      warn: (message) => lines.push(['warn', message]),
      error: (message) => lines.push(['error', message]),
    }
    const { scheduler, logger } = await start(SyncfolioModule.forRoot({ ...options, role: 'api', logger: own }))
    await scheduler.syncNow(connection.id)
    expect(lines).toContainEqual(['warn', PAUSE_LINE])
    expect(logger.entries.map((entry) => entry.message)).not.toContain(PAUSE_LINE)
  })
})

describe('options', () => {
  const store = new MemoryStore()
  const exchanges = [recordingAdapter('binance')]

  it.each([
    ['path', { path: 'connections/:id' }, 'connections/:id'],
    ['path', { path: 'api/*' }, 'api/*'],
    ['role', { role: 'worker' }, 'worker'],
    ['guards.0', { guards: ['AuthGuard'] }, 'AuthGuard'],
    ['global', { global: 'yes' }, 'yes'],
    ['shutdownTimeoutMs', { shutdownTimeoutMs: -1 }, -1],
    ['resolveUser', { resolveUser: 'req.user.id' }, 'req.user.id'],
    ['intervall', { intervall: 5_000 }, 5_000],
  ])('forRoot refuses a bad %s, naming it and the value', (field, patch, received) => {
    const options = { store, exchanges, resolveUser, ...patch } as SyncfolioModuleOptions
    const failure = catchError(() => SyncfolioModule.forRoot(options))
    expect(failure).toBeInstanceOf(InvalidOptionError)
    expect(failure).toMatchObject({ field, received })
    expect((failure as Error).message).toMatch(/^SyncfolioModule: option /)
  })

  it('needs resolveUser unless the role serves no routes', () => {
    expect(catchError(() => SyncfolioModule.forRoot({ store, exchanges }))).toMatchObject({ field: 'resolveUser' })
    expect(catchError(() => SyncfolioModule.forRoot({ store, exchanges, role: 'api' }))).toMatchObject({
      field: 'resolveUser',
    })
    expect(SyncfolioModule.forRoot({ store, exchanges, role: 'scheduler' }).controllers).toEqual([])
  })

  it('forRootAsync takes only static options beside the factory', () => {
    const failure = catchError(() =>
      SyncfolioModule.forRootAsync({
        intervalMs: 5_000,
        useFactory: () => ({ store, exchanges, resolveUser }),
      } as never),
    )
    expect(failure).toMatchObject({ field: 'intervalMs', received: 5_000 })
    expect((failure as Error).message).toContain('return it from useFactory')
    expect(catchError(() => SyncfolioModule.forRootAsync({} as never))).toMatchObject({ field: 'useFactory' })
  })

  it("leaves the scheduler's and the handler's options to them, which name the same fields", async () => {
    const badInterval = await compile([
      SyncfolioModule.forRoot({ store, exchanges, resolveUser, intervalMs: 0 }),
    ]).catch((error: unknown) => error)
    expect(badInterval).toMatchObject({ field: 'intervalMs', received: 0 })
    const badBody = await compile([SyncfolioModule.forRoot({ store, exchanges, resolveUser, maxBodyBytes: 0 })]).catch(
      (error: unknown) => error,
    )
    expect(badBody).toMatchObject({ field: 'maxBodyBytes', received: 0 })
  })
})

function drainLine(inFlight: number, timeoutMs: number): string {
  return `Waiting for ${inFlight} sync(s) in flight (at most ${timeoutMs} ms)`
}

function catchError(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('SyncfolioModule behind enableCors, for a UI on another origin', () => {
  const UI = 'http://ui.example.test:5173'

  it('answers the preflight and the request itself with the CORS headers, guards still applied', async () => {
    const { options, store } = fixture()
    const { base, call } = await start(SyncfolioModule.forRoot(options), {
      configure: (app) => app.enableCors({ origin: UI, credentials: true }),
    })
    const preflight = await fetch(`${base}/syncfolio/connections`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-user',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI)
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type,x-user')

    const added = await call('POST', '/syncfolio/connections', {
      body: { exchange: 'binance', credentials: KEYS },
      headers: { origin: UI },
    })
    expect(added.status).toBe(201)
    expect(added.headers.get('access-control-allow-origin')).toBe(UI)
    expect(await store.listByUser('alice')).toHaveLength(1)
    const refused = await call('GET', '/syncfolio/connections', { user: null, headers: { origin: UI } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(UI)
  })
})

describe('SyncfolioModule under hostile requests', () => {
  it("answers 5,000 nested arrays that Nest's body parser accepted with a 400 problem, never a stack", async () => {
    const { options } = fixture()
    const { call } = await start(SyncfolioModule.forRoot(options))
    const response = await call('POST', '/syncfolio/connections', {
      body: `{"exchange":"binance","credentials":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
    })
    expect(response.status).toBe(400)
    expect(response.json.error.code).toBe('INVALID_JSON')
    expect(response.text).not.toMatch(/RangeError|stack|\.ts:/)
  })

  it('keeps a keep-alive connection usable after a 415 given before a 300 KB body was read', async () => {
    const { options } = fixture()
    const { base } = await start(SyncfolioModule.forRoot(options))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const request = httpRequest(`${base}${path}`, { method, headers, agent }, (response) => {
          response.resume()
          response.on('end', () => resolve({ status: response.statusCode ?? 0, reused: request.reusedSocket }))
        })
        request.on('error', reject)
        request.end(body)
      })
    try {
      const early = await send(
        'POST',
        '/syncfolio/connections',
        { 'x-user': 'alice', 'content-type': 'text/plain' },
        'x'.repeat(300 * 1024),
      )
      expect(early.status).toBe(415)
      const next = await send('GET', '/syncfolio/exchanges', { 'x-user': 'alice' })
      expect(next).toEqual({ status: 200, reused: true })
    } finally {
      agent.destroy()
    }
  })

  it('names SyncfolioModule and the exact key when the HTTP options from useFactory are wrong', async () => {
    const { options } = fixture()
    const { guards, ...runtime } = options
    const module = SyncfolioModule.forRootAsync({ guards, useFactory: () => ({ ...runtime, heartbeatMs: 0 }) })
    await expect(start(module)).rejects.toThrow(/SyncfolioModule.*"heartbeatMs"/)
  })
})
