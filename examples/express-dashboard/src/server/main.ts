import { fileURLToPath } from 'node:url'
import { startDashboard } from './startDashboard.js'

const port = process.env.PORT ? Number(process.env.PORT) : undefined
// Connections live in data/syncfolio.db (git ignores data/), with the key made on first start beside it;
// SYNCFOLIO_DATABASE_URL=postgres://… keeps them in Postgres instead.
const dataDir = process.env.SYNCFOLIO_DATA_DIR || fileURLToPath(new URL('../../data', import.meta.url))
const dashboard = await startDashboard({
  port,
  host: process.env.HOST || undefined,
  dataDir,
  databaseUrl: process.env.SYNCFOLIO_DATABASE_URL || undefined,
}).catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
  console.error(`Port ${port ?? 3000} is in use. Start on another one: PORT=3001 npm start`)
  process.exit(1)
})
console.log(`syncfolio dashboard: ${dashboard.url}`)
console.log(`Connections are kept in ${dashboard.storeDescription}; a restart keeps them.`)
console.log('A local fake Binance and OKX whose balances drift; no network, no real keys. Ctrl-C stops.')

let stopping = false
const stop = async (signal: NodeJS.Signals) => {
  // A second Ctrl-C while draining means "now".
  if (stopping) process.exit(130)
  stopping = true
  console.log(`${signal}: finishing the syncs in flight…`)
  await dashboard.close()
  console.log('stopped')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
