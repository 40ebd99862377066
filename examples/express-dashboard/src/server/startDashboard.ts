import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCcxtAdapter } from '@syncfolio/ccxt'
import {
  type Connection,
  type ExchangeAdapter,
  InvalidOptionError,
  type Scheduler,
  SyncScheduler,
  type SyncStore,
} from '@syncfolio/core'
import { syncfolioRouter } from '@syncfolio/express'
import { type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import express from 'express'
import { z } from 'zod'
import { DEMO_ACCOUNTS, fakeAccountOf } from './demoAccounts.js'
import { demoRouter } from './demoRouter.js'
import { openStore } from './openStore.js'

export interface DashboardOptions {
  /** Port to listen on; 0 picks a free one. @default 3000 */
  port?: number
  /** Interface to listen on. Loopback by default: the demo has no login. @default '127.0.0.1' */
  host?: string
  /** The scheduler's interval: a demo speed, so changes show quickly (production uses 60_000). @default 10_000 */
  intervalMs?: number
  /** Demo-only staleness threshold the UI uses (the library's default is 5 minutes). @default 20_000 */
  staleAfterMs?: number
  /** Least time between two manual syncs of one connection. @default 5_000 */
  manualSyncIntervalMs?: number
  /** Latency the fake exchange adds to every answer, so "Syncing…" can be seen. @default 250 */
  latencyMs?: number
  /** Directory of the built UI (`vite build` output). @default dist/ui of this package */
  uiDir?: string
  /** Where the server reports problems. @default console.error */
  log?: (line: string) => void
  /**
   * Folder of the SQLite file (`syncfolio.db`) and its credential key (`syncfolio.key`, made on first start), so
   * connections and balances survive a restart. Without it and without `databaseUrl`, the store is in memory.
   * `npm start` passes the package's `data/` folder.
   */
  dataDir?: string
  /** A `postgres://` URL: the store is Postgres instead of the SQLite file (the key still lives in `dataDir`). */
  databaseUrl?: string
  /**
   * Builds the scheduler in place of the in-process SyncScheduler: e.g. a `BullmqScheduler` with `role: 'api'`
   * whose workers run in other processes (`npm run demo:cluster`). It is started once the server listens and
   * stopped on close.
   * @default a SyncScheduler over the store
   */
  scheduler?: (context: DashboardSchedulerContext) => Scheduler
}

/** What a `scheduler` factory gets to build on. */
export interface DashboardSchedulerContext {
  store: SyncStore
  /** ccxt adapters for Binance and OKX, pointed at the dashboard's fake exchange. */
  exchanges: ExchangeAdapter[]
  intervalMs: number
  /** The fake exchange; workers in other processes reach it at `fake.url`. */
  fake: FakeExchangeServer
}

export interface Dashboard {
  /** Where the dashboard is served, e.g. `http://127.0.0.1:3000`. */
  url: string
  /** Stops taking requests, drains the syncs in flight, then closes the fake exchange. Idempotent. */
  close(): Promise<void>
  scheduler: Scheduler
  store: SyncStore
  /** Where the store keeps its data, e.g. `SQLite file data/syncfolio.db`. */
  storeDescription: string
  fake: FakeExchangeServer
  /** The demo user's connections: made on the first start, read back from the store on later ones. */
  connections: Connection[]
}

/** The one user of the demo; a real app resolves it from its session. */
export const DEMO_USER_ID = 'demo'

const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui', import.meta.url))

const optionsSchema = z.strictObject({
  port: z.number().int().min(0).max(65_535),
  host: z.string().min(1),
  intervalMs: z.number().int().positive(),
  staleAfterMs: z.number().int().positive(),
  manualSyncIntervalMs: z.number().int().positive(),
  latencyMs: z.number().int().nonnegative(),
  uiDir: z.string().min(1),
  log: z.custom<(line: string) => void>((value) => typeof value === 'function', 'expected a function'),
  dataDir: z.string().min(1).optional(),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
    .optional(),
  scheduler: z
    .custom<(context: DashboardSchedulerContext) => Scheduler>(
      (value) => typeof value === 'function',
      'expected a function',
    )
    .optional(),
})

/**
 * The dashboard demo, in-process: a local fake Binance and OKX (real HTTP, signatures, rate limits), real ccxt
 * through `@syncfolio/ccxt`, a SyncScheduler over a MemoryStore, the syncfolio HTTP API at `/api/syncfolio`,
 * demo controls at `/api/demo`, and the built UI with a fallback to its `index.html`.
 */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const settings = parseOptions(options)
  const { intervalMs, staleAfterMs, manualSyncIntervalMs, log } = settings

  const fake = await startFakeExchange({
    accounts: DEMO_ACCOUNTS.map((account, index) => fakeAccountOf(account, index)),
  })
  if (settings.latencyMs > 0) fake.inject({ type: 'latency', ms: settings.latencyMs })

  const opened = await openStore({ dataDir: settings.dataDir, databaseUrl: settings.databaseUrl }).catch(
    async (error: unknown) => {
      await fake.close()
      throw error
    },
  )
  const store = opened.store
  // The demo accounts are connected on the first start only; after a restart the store has them.
  const connections: Connection[] = await store.listByUser(DEMO_USER_ID)
  if (connections.length === 0) {
    for (const account of DEMO_ACCOUNTS.filter(({ connectedAtStart }) => connectedAtStart)) {
      const { exchange, label, apiKey, secret, password } = account
      const credentials = { apiKey, secret, ...(password && { password }) }
      connections.push(await store.add({ userId: DEMO_USER_ID, exchange, label, credentials }))
    }
  }

  const exchanges = [
    createCcxtAdapter('binance', { baseUrl: fake.url }),
    createCcxtAdapter('okx', { baseUrl: fake.url }),
  ]
  let scheduler: Scheduler
  try {
    scheduler = settings.scheduler
      ? settings.scheduler({ store, exchanges, intervalMs, fake })
      : new SyncScheduler({ store, exchanges, intervalMs })
  } catch (error) {
    await opened.close()
    await fake.close()
    throw error
  }
  scheduler.on('error', (error) => log(`scheduler: ${error.message}`))

  const app = express()
  app.disable('x-powered-by')
  app.use(
    '/api/syncfolio',
    syncfolioRouter({
      scheduler,
      store,
      // No login in the demo: every request is the demo user's.
      resolveUser: () => DEMO_USER_ID,
      manualSyncIntervalMs,
      onError: (error) => log(`api: ${error instanceof Error ? error.message : String(error)}`),
    }),
  )
  app.use(
    '/api/demo',
    demoRouter({
      fake,
      store,
      userId: DEMO_USER_ID,
      accounts: DEMO_ACCOUNTS,
      settings: { intervalMs, staleAfterMs, manualSyncIntervalMs },
    }),
  )
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route.' } })
  })
  serveUi(app, settings.uiDir, log)

  const server = createServer(app)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(settings.port, settings.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    // The scheduler has not started; the fake exchange and the store are all that run.
    await opened.close()
    await fake.close()
    throw error
  }
  scheduler.start()

  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  return {
    url: `http://${host}:${address.port}`,
    scheduler,
    store,
    storeDescription: opened.description,
    fake,
    connections,
    close: () => {
      closed ??= (async () => {
        // Event streams never end on their own: drop every connection, then let the syncs in flight finish
        // against the fake exchange before it goes.
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await scheduler.stop({ timeoutMs: 5_000 })
        await opened.close()
        await fake.close()
      })()
      return closed
    },
  }
}

function serveUi(app: express.Express, uiDir: string, log: (line: string) => void): void {
  const index = join(uiDir, 'index.html')
  if (!existsSync(index)) log(`No built UI in ${uiDir}: run "npm run build:ui" (npm start builds it first).`)
  app.use(
    express.static(uiDir, {
      index: false,
      // Vite puts a content hash in every asset name, so they never change under one URL.
      setHeaders: (res, path) => {
        if (path.includes(`${join(uiDir, 'assets')}`)) res.set('Cache-Control', 'public, max-age=31536000, immutable')
      },
    }),
  )
  // Any other page path is the single-page app; index.html is not cached so a rebuilt UI is picked up at once.
  app.get('/{*path}', (_req, res) => {
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The dashboard UI is not built yet: run "npm run build:ui".')
      return
    }
    res.set('Cache-Control', 'no-cache').sendFile(index)
  })
}

function parseOptions(
  options: DashboardOptions,
): Required<Omit<DashboardOptions, 'dataDir' | 'databaseUrl' | 'scheduler'>> &
  Pick<DashboardOptions, 'dataDir' | 'databaseUrl' | 'scheduler'> {
  const withDefaults = {
    port: 3000,
    host: '127.0.0.1',
    intervalMs: 10_000,
    staleAfterMs: 20_000,
    manualSyncIntervalMs: 5_000,
    latencyMs: 250,
    uiDir: DEFAULT_UI_DIR,
    log: (line: string) => console.error(line),
    ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
  }
  const parsed = optionsSchema.safeParse(withDefaults)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.map(String).join('.')
    const value = (withDefaults as Record<string, unknown>)[field]
    throw new InvalidOptionError('startDashboard', field, issue.message.toLowerCase(), value)
  }
  return parsed.data
}
