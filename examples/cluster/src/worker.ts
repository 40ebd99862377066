// One worker of the cluster demo, started by startCluster in a process of its own: a BullmqScheduler with
// `role: 'worker'` over the demo's SQLite store, syncing the dashboard's fake exchange. It prints one line per sync.
import { BullmqScheduler } from '@syncfolio/bullmq'
import { createCcxtAdapter } from '@syncfolio/ccxt'
import { openStore } from '@syncfolio/example-express-dashboard/src/server/openStore.js'

/** What startCluster hands a worker, as JSON in its first argument. */
export interface WorkerConfig {
  workerId: string
  redis: { host: string; port: number }
  prefix: string
  dataDir: string
  fakeUrl: string
  intervalMs: number
  concurrency: number
}

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig
const opened = await openStore({ dataDir: config.dataDir })
const scheduler = new BullmqScheduler({
  redis: config.redis,
  prefix: config.prefix,
  store: opened.store,
  exchanges: [
    createCcxtAdapter('binance', { baseUrl: config.fakeUrl }),
    createCcxtAdapter('okx', { baseUrl: config.fakeUrl }),
  ],
  intervalMs: config.intervalMs,
  concurrency: config.concurrency,
  role: 'worker',
  workerId: config.workerId,
})

// Every process hears the cluster's events: print only the syncs this one ran.
scheduler.on('sync:success', (event) => {
  if (event.worker !== config.workerId) return
  console.log(
    `synced ${event.exchange} ${event.connectionId} (${event.trigger}) in ${event.finishedAt - event.startedAt} ms`,
  )
})
scheduler.on('sync:failure', (event) => {
  if (event.worker !== config.workerId) return
  console.log(`failed ${event.exchange} ${event.connectionId}: ${event.error.code}`)
})
scheduler.on('error', (error) => console.error(`scheduler: ${error.message}`))

let stopping: Promise<void> | undefined
const stop = () => {
  stopping ??= (async () => {
    await scheduler.stop({ timeoutMs: 5_000 })
    await opened.close()
    process.exit(0)
  })()
  return stopping
}
// startCluster says "stop" over IPC; a lost parent, SIGINT or SIGTERM mean the same.
process.on('message', (message) => {
  if ((message as { type?: string }).type === 'stop') void stop()
})
process.on('disconnect', () => void stop())
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())

scheduler.start()
process.send?.({ type: 'ready' })
