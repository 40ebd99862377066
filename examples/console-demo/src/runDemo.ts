import { createCcxtAdapter } from '@syncfolio/ccxt'
import { type Connection, MemoryStore, SyncScheduler, sumDecimals } from '@syncfolio/core'
import { type FakeBalance, type FakeExchangeId, startFakeExchange } from '@syncfolio/testing'

export interface DemoOptions {
  /** How often each connection syncs. @default 5_000 (a demo-speed interval; production uses 60_000) */
  intervalMs?: number
  /** How often the scheduler looks for due connections. @default the scheduler's (intervalMs / 60, at least 250) */
  tickMs?: number
  /** Latency the fake exchange adds to every answer. @default 150 */
  latencyMs?: number
  /** Stop after this long; run until `signal` aborts when absent. */
  durationMs?: number
  /** Where lines go. @default console.log */
  log?: (line: string) => void
  signal?: AbortSignal
}

const USERS = ['alice', 'bob', 'carol']
const ASSETS: Record<FakeExchangeId, string[]> = { binance: ['BTC', 'ETH', 'USDT'], okx: ['BTC', 'SOL', 'USDC'] }

/** Balances that drift with time, as decimal strings with 8 places (no floats on the way). */
function drifting(seed: number, assets: string[]): (now: number) => FakeBalance[] {
  return (now) =>
    assets.map((asset, index) => {
      const base = BigInt(100 + ((seed * 37 + index * 101) % 900)) * 100_000_000n
      const wobble = BigInt(Math.round(Math.sin(now / 7_000 + seed + index) * 1_000_000_000))
      const units = base + wobble
      return { asset, free: `${units / 100_000_000n}.${(units % 100_000_000n).toString().padStart(8, '0')}`, used: '0' }
    })
}

/**
 * The whole path, offline: a local fake Binance and OKX (real HTTP, signatures, rate limits), real ccxt through
 * `@syncfolio/ccxt`, and the scheduler over a MemoryStore. OKX goes into maintenance now and then, and one user
 * revokes a key partway through. Prints each exchange's sweeps and everyone's holdings.
 */
export async function runDemo(options: DemoOptions = {}): Promise<{ sweeps: number; synced: number }> {
  const { intervalMs = 5_000, log = console.log } = options
  const fake = await startFakeExchange()
  fake.inject({ type: 'latency', ms: options.latencyMs ?? 150 })
  const store = new MemoryStore()
  const connections: Connection[] = []
  const accounts = new Map<string, { revoke(): void }>()
  for (const [n, userId] of USERS.entries()) {
    for (const exchange of ['binance', 'okx'] as const) {
      const credentials = {
        apiKey: `${userId}-${exchange}-key-${n}`,
        secret: `${userId}-${exchange}-secret-${n}`,
        ...(exchange === 'okx' && { password: `${userId}-passphrase` }),
      }
      accounts.set(
        `${userId}/${exchange}`,
        fake.addAccount({ exchange, ...credentials, balances: drifting(n, ASSETS[exchange]) }),
      )
      connections.push(await store.add({ userId, exchange, label: `${userId}'s ${exchange}`, credentials }))
    }
  }
  const scheduler = new SyncScheduler({
    store,
    exchanges: [createCcxtAdapter('binance', { baseUrl: fake.url }), createCcxtAdapter('okx', { baseUrl: fake.url })],
    intervalMs,
    concurrency: 3,
    ...(options.tickMs !== undefined && { tickMs: options.tickMs }),
  })
  const names = new Map(connections.map((connection) => [connection.id, `${connection.userId}/${connection.exchange}`]))

  scheduler.on('sync:failure', ({ exchange, userId, error, nextSyncAt, disabled }) => {
    const retry = nextSyncAt === null || disabled ? '' : `, retry in ${((nextSyncAt - Date.now()) / 1000).toFixed(1)} s`
    log(`  ✗ ${userId}/${exchange}: ${error.code} (${error.message})${retry}`)
  })
  scheduler.on('connection:disabled', ({ userId, exchange }) => {
    log(`  ⚠ ${userId}/${exchange} disabled: the key was revoked; it stays out of rotation until new keys arrive`)
  })
  scheduler.on('error', (error) => log(`  ! ${error.message}`))

  let sweeps = 0
  let synced = 0
  const swept = new Map<string, string[]>()
  scheduler.on('sync:success', ({ connectionId, exchange }) => {
    swept.set(exchange, [...(swept.get(exchange) ?? []), names.get(connectionId) ?? connectionId])
  })
  scheduler.on('sweep:end', (report) => {
    if (report.attempted === 0) return
    sweeps++
    synced += report.succeeded
    const time = new Date(report.finishedAt).toISOString().slice(11, 19)
    const which = swept.get(report.exchange)?.join(', ') || 'none'
    log(`${time} ${report.exchange} sweep ${sweeps}: ${report.succeeded} synced (${which}), ${report.failed} failed`)
    swept.delete(report.exchange)
  })

  const timers: NodeJS.Timeout[] = []
  timers.push(
    setInterval(async () => {
      log('holdings:')
      for (const userId of USERS) log(`  ${userId.padEnd(6)} ${await holdings(store, userId)}`)
    }, intervalMs),
    setInterval(() => {
      fake.inject({ type: 'maintenance' }, { exchange: 'okx', path: '/api/v5/account/balance', times: 1 })
    }, intervalMs * 2.5),
    setTimeout(() => {
      accounts.get('bob/binance')?.revoke()
      log('(bob revokes his Binance key)')
    }, intervalMs * 1.5),
  )

  log(
    `syncfolio demo: ${connections.length} connections, real ccxt against a local fake Binance and OKX at ${fake.url}`,
  )
  log(`one sync each every ${intervalMs / 1000} s; Ctrl-C stops (in-flight syncs drain first)`)
  scheduler.start()
  await new Promise<void>((resolve) => {
    if (options.durationMs !== undefined) timers.push(setTimeout(resolve, options.durationMs))
    options.signal?.addEventListener('abort', () => resolve(), { once: true })
  })
  for (const timer of timers) clearTimeout(timer)
  await scheduler.stop({ timeoutMs: 5_000 })
  await fake.close()
  log(`stopped: in-flight syncs drained; the fake exchange answered ${fake.requests.length} requests`)
  return { sweeps, synced }
}

async function holdings(store: MemoryStore, userId: string): Promise<string> {
  const totals = new Map<string, string[]>()
  for (const connection of await store.listByUser(userId)) {
    for (const balance of (await store.getBalances(connection.id)) ?? []) {
      totals.set(balance.asset, [...(totals.get(balance.asset) ?? []), balance.total])
    }
  }
  return [...totals].map(([asset, amounts]) => `${asset} ${sumDecimals(amounts)}`).join('  ') || '(nothing synced yet)'
}
