import { startDashboard } from './startDashboard.js'

const port = process.env.PORT ? Number(process.env.PORT) : undefined
const dashboard = await startDashboard({ port, host: process.env.HOST || undefined })
console.log(`syncfolio dashboard: ${dashboard.url}`)
console.log(
  'Demo: a local fake Binance and OKX, balances that drift, one sync per connection every 10 s. Ctrl-C stops.',
)

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
