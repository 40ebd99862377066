import { expect, it } from 'vitest'
import { runDemo } from '../runDemo.js'

it('syncs every connection, shows holdings, disables a revoked key, and stops cleanly', async () => {
  const lines: string[] = []
  const controller = new AbortController()
  const seen = () => lines.join('\n')
  // Runs until everything worth seeing has happened (at most 15 s of a loaded machine), then stops.
  const deadline = setTimeout(() => controller.abort(), 15_000)
  const { synced } = await runDemo({
    intervalMs: 300,
    tickMs: 10,
    latencyMs: 5,
    signal: controller.signal,
    log: (line) => {
      lines.push(line)
      if (/bob\/binance disabled/.test(seen()) && /holdings:/.test(seen()) && lines.length > 30) controller.abort()
    },
  })
  clearTimeout(deadline)
  const output = seen()
  expect(synced).toBeGreaterThanOrEqual(6)
  expect(output).toMatch(/(binance|okx) sweep 1: \d+ synced \((alice|bob|carol)\/(binance|okx)/)
  expect(output).toMatch(/alice {2}BTC \d+\.\d{8}/)
  expect(output).toContain('bob/binance disabled')
  expect(output).toContain('stopped: in-flight syncs drained')
  expect(output).not.toMatch(/secret/)
})
