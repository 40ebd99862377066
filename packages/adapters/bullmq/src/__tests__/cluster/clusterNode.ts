// One process of a test cluster, run by `startClusterNode` as a child process: a BullmqScheduler over the shared
// PostgresStore, syncing the fake Binance through real ccxt, talking to its parent over IPC. Its own syncs (or, for
// an `api` node, every sync event the cluster publishes) go to the parent as they happen.
import { createCcxtAdapter } from '@syncfolio/ccxt'
import { createCredentialCipher, type ExchangeLimits } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import pg from 'pg'
import { BullmqScheduler } from '../../index.js'
import type { NodeMessage, ParentMessage, ReportedEvent } from './protocol.js'

export interface ClusterNodeConfig {
  role: 'all' | 'worker' | 'api'
  /** Names this process in the `worker` field of its sync events. */
  workerId: string
  redis: { host: string; port: number }
  databaseUrl: string
  /** Base64 credential key, the same in every process of the cluster. */
  credentialKey: string
  fakeUrl: string
  intervalMs: number
  concurrency: number
  timeoutMs: number
  limits: Record<string, ExchangeLimits>
  prefix: string
  /** The store's table prefix. @default 'syncfolio_' */
  tablePrefix?: string
  /** Extra BullmqScheduler options (lock and stall timings), passed through as given. */
  scheduler?: Record<string, unknown>
  /** Which sync events to report: the ones this process ran, every one it hears of, or none. */
  report: 'own' | 'all' | 'none'
}

const config = JSON.parse(process.argv[2] ?? '') as ClusterNodeConfig
const send = (message: NodeMessage) => process.send?.(message)

const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.concurrency + 2 })
const store = new PostgresStore({
  db: pool,
  cipher: createCredentialCipher({ keys: { k1: config.credentialKey }, primary: 'k1' }),
  ...(config.tablePrefix !== undefined && { tablePrefix: config.tablePrefix }),
})
const scheduler = new BullmqScheduler({
  ...config.scheduler,
  redis: config.redis,
  store,
  exchanges: [createCcxtAdapter('binance', { baseUrl: config.fakeUrl })],
  limits: config.limits,
  intervalMs: config.intervalMs,
  concurrency: config.concurrency,
  timeoutMs: config.timeoutMs,
  role: config.role,
  prefix: config.prefix,
  workerId: config.workerId,
})

const reports = (worker: string | undefined) =>
  config.report === 'all' || (config.report === 'own' && worker === config.workerId)

scheduler.on('sync:start', (event) => {
  if (!reports(event.worker)) return
  report({
    type: 'start',
    connectionId: event.connectionId,
    worker: event.worker,
    trigger: event.trigger,
    at: event.startedAt,
  })
})
scheduler.on('sync:success', (event) => {
  if (!reports(event.worker)) return
  report({
    type: 'success',
    connectionId: event.connectionId,
    worker: event.worker,
    trigger: event.trigger,
    at: event.finishedAt,
    startedAt: event.startedAt,
    nextSyncAt: event.nextSyncAt,
  })
})
scheduler.on('sync:failure', (event) => {
  if (!reports(event.worker)) return
  report({
    type: 'failure',
    connectionId: event.connectionId,
    worker: event.worker,
    trigger: event.trigger,
    at: event.finishedAt,
    startedAt: event.startedAt,
    code: event.error.code,
  })
})
scheduler.on('ratelimit', (event) => {
  if (config.report !== 'none') send({ type: 'ratelimit', reason: event.reason, waitMs: event.waitMs })
})
scheduler.on('error', (error) => send({ type: 'error', message: error.message }))

function report(event: ReportedEvent): void {
  send({ type: 'event', event })
}

process.on('message', (raw) => {
  const message = raw as ParentMessage
  if (message.type === 'syncNow') {
    scheduler.syncNow(message.connectionId).then(
      (outcome) =>
        send({
          type: 'outcome',
          requestId: message.requestId,
          ok: outcome.ok,
          code: outcome.ok ? null : outcome.error.code,
        }),
      (error: unknown) =>
        send({
          type: 'outcome',
          requestId: message.requestId,
          ok: false,
          code: error instanceof Error ? error.message : String(error),
        }),
    )
  } else if (message.type === 'usage') {
    const { user, system } = process.cpuUsage()
    send({ type: 'usage', requestId: message.requestId, cpuMs: (user + system) / 1000 })
  } else if (message.type === 'stop') {
    void shutdown()
  }
})
// The parent went away without saying so: do not linger.
process.on('disconnect', () => void shutdown())

let stopping: Promise<void> | undefined
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    try {
      await scheduler.stop({ timeoutMs: 5_000 })
      await store.close()
    } finally {
      send({ type: 'stopped' })
      process.exit(0)
    }
  })()
  return stopping
}

scheduler.start()
send({ type: 'ready', pid: process.pid })
