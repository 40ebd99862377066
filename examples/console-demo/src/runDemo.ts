import { type Connection, MemoryStore, SyncScheduler, sumDecimals } from '@syncfolio/core'
import { createSimulatedExchange } from '@syncfolio/testing'

export interface DemoOptions {
  /** How often each connection syncs. @default 5_000 (a demo-speed interval; production uses 60_000) */
  intervalMs?: number
  /** How often the scheduler looks for due connections. @default the scheduler's (intervalMs / 60, at least 250) */
  tickMs?: number
  /** Simulated exchange latency. @default 150 for binance, 250 for okx */
  latencyMs?: number
  /** Stop after this long; run until `signal` aborts when absent. */
  durationMs?: number
  /** Where lines go. @default console.log */
  log?: (line: string) => void
  signal?: AbortSignal
}

const USERS = ['alice', 'bob', 'carol']

/**
 * A scheduler over a MemoryStore and two simulated exchanges whose balances drift and which sometimes fail;
 * one user revokes a key partway through. Prints each sweep and each notable event.
 */
export async function runDemo(options: DemoOptions = {}): Promise<{ sweeps: number; synced: number }> {
  const { intervalMs = 5_000, log = console.log } = options
  const binance = createSimulatedExchange({ id: 'binance', failureRate: 0.1, latencyMs: options.latencyMs ?? 150 })
  const okx = createSimulatedExchange({
    id: 'okx',
    failureRate: 0.1,
    latencyMs: options.latencyMs ?? 250,
    assets: ['BTC', 'SOL', 'USDC'],
  })
  const store = new MemoryStore()
  const connections: Connection[] = []
  for (const [n, userId] of USERS.entries()) {
    for (const exchange of ['binance', 'okx']) {
      connections.push(
        await store.add({
          userId,
          exchange,
          label: `${userId}'s ${exchange}`,
          credentials: { apiKey: `${userId}-${exchange}-key-${n}`, secret: `${userId}-${exchange}-secret-${n}` },
        }),
      )
    }
  }
  const scheduler = new SyncScheduler({
    store,
    exchanges: [binance, okx],
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
  let swept: string[] = []
  scheduler.on('sync:success', ({ connectionId }) => swept.push(names.get(connectionId) ?? connectionId))
  scheduler.on('sweep:end', (report) => {
    if (report.attempted === 0) return
    sweeps++
    synced += report.succeeded
    const time = new Date(report.finishedAt).toISOString().slice(11, 19)
    log(
      `${time} ${report.exchange} sweep ${sweeps}: ${report.succeeded} synced (${swept.join(', ') || 'none'}), ${report.failed} failed`,
    )
    swept = []
  })

  const timers: NodeJS.Timeout[] = []
  const every = setInterval(async () => {
    log('holdings:')
    for (const userId of USERS) log(`  ${userId.padEnd(6)} ${await holdings(store, userId)}`)
  }, intervalMs)
  timers.push(every)
  timers.push(
    setTimeout(() => {
      binance.revoke('bob-binance-key-1')
      log('(bob revokes his Binance key)')
    }, intervalMs * 1.5),
  )

  log(
    `syncfolio demo: ${connections.length} connections on 2 simulated exchanges, one sync each every ${intervalMs / 1000} s`,
  )
  scheduler.start()
  await new Promise<void>((resolve) => {
    if (options.durationMs !== undefined) timers.push(setTimeout(resolve, options.durationMs))
    options.signal?.addEventListener('abort', () => resolve(), { once: true })
  })
  for (const timer of timers) clearTimeout(timer)
  await scheduler.stop({ timeoutMs: 5_000 })
  log('stopped: in-flight syncs drained')
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
