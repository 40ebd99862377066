import { runDemo } from './runDemo.js'

const controller = new AbortController()
process.once('SIGINT', () => controller.abort())
process.once('SIGTERM', () => controller.abort())
const durationMs = process.env.SYNCFOLIO_DEMO_SECONDS ? Number(process.env.SYNCFOLIO_DEMO_SECONDS) * 1000 : undefined
console.log('Press Ctrl-C to stop.')
await runDemo({ signal: controller.signal, ...(durationMs !== undefined && { durationMs }) })
