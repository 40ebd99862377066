import { expect, it } from 'vitest'
import { runDemo } from '../runDemo.js'

it('syncs every connection, shows holdings, disables a revoked key, and stops cleanly', async () => {
  const lines: string[] = []
  const { synced } = await runDemo({
    intervalMs: 300,
    tickMs: 10,
    latencyMs: 5,
    durationMs: 1_500,
    log: (line) => lines.push(line),
  })
  // Six connections, five intervals; a few syncs fail on purpose and one key is revoked.
  expect(synced).toBeGreaterThanOrEqual(10)
  const output = lines.join('\n')
  expect(output).toMatch(/sweep 1: \d+ synced \((alice|bob|carol)\/(binance|okx)/)
  expect(output).toMatch(/alice {2}BTC \d+\.\d{8}/)
  expect(output).toContain('bob/binance disabled')
  expect(output).toContain('stopped: in-flight syncs drained')
  expect(output).not.toMatch(/secret/)
})
