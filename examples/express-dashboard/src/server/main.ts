import { startDashboard } from './startDashboard.js'

const port = process.env.PORT ? Number(process.env.PORT) : undefined
const dashboard = await startDashboard({ port, host: process.env.HOST || undefined }).catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
  console.error(`Port ${port ?? 3000} is in use. Start on another one: PORT=3001 npm start`)
  process.exit(1)
})
console.log(`syncfolio dashboard: ${dashboard.url}`)
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
