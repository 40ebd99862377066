import { fileURLToPath } from 'node:url'
import { hasRedisServer, startCluster } from './startCluster.js'

if (!hasRedisServer()) {
  console.error('The cluster demo runs its own Redis, and no redis-server is installed.')
  console.error('Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or set')
  console.error('REDIS_SERVER=/path/to/redis-server, then run npm run demo:cluster again.')
  process.exit(1)
}

const port = process.env.PORT ? Number(process.env.PORT) : undefined
// The store every process shares: data/syncfolio.db (git ignores data/) and its key, made on first start.
const dataDir = process.env.SYNCFOLIO_DATA_DIR || fileURLToPath(new URL('../data', import.meta.url))
const cluster = await startCluster({
  dataDir,
  ...(port !== undefined && { port }),
  ...(process.env.HOST && { host: process.env.HOST }),
}).catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
  console.error(`Port ${port ?? 3000} is in use. Start on another one: PORT=3001 npm run demo:cluster`)
  process.exit(1)
})
console.log(`syncfolio cluster demo: ${cluster.dashboard.url}`)
console.log(
  `Redis on ${cluster.redis.url} (no persistence), ${cluster.workers.size} workers: ${[...cluster.workers.keys()].join(', ')}`,
)
console.log(`Every process shares ${cluster.dashboard.storeDescription}. The dashboard runs no sync: workers do.`)
console.log('Kill a worker (kill -9 <pid>) and watch the others take over its syncs. Ctrl-C stops.')
for (const [name, child] of cluster.workers) console.log(`  ${name}: pid ${child.pid}`)

let stopping = false
const stop = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(130)
  stopping = true
  console.log(`${signal}: draining the workers…`)
  await cluster.close()
  console.log('stopped')
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
