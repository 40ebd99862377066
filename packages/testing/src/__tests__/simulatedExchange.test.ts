import type { Connection } from '@syncfolio/core'
import { describe, expect, it } from 'vitest'
import { FakeClock } from '../fakeClock.js'
import { createSimulatedExchange } from '../simulatedExchange.js'

const connection = { id: 'c1' } as Connection
const request = (apiKey: string, signal = new AbortController().signal) => ({
  connection,
  credentials: { apiKey, secret: 's' },
  signal,
})

describe('createSimulatedExchange', () => {
  it('keeps an account per key whose balances drift between calls', async () => {
    const exchange = createSimulatedExchange({ id: 'sim', assets: ['BTC', 'ETH'] })
    const first = await exchange.fetchBalances(request('a'))
    const second = await exchange.fetchBalances(request('a'))
    const other = await exchange.fetchBalances(request('b'))
    expect(first.balances.map((balance) => balance.asset)).toEqual(['BTC', 'ETH'])
    expect(second.balances).not.toEqual(first.balances)
    expect(other.balances).not.toEqual(second.balances)
    for (const balance of first.balances) expect(balance.total).toMatch(/^\d+\.\d{8}$/)
    expect(exchange.calls.get('a')).toBe(2)
  })

  it('fails transiently at the configured rate and refuses revoked keys', async () => {
    const flaky = createSimulatedExchange({ failureRate: 1 })
    await expect(flaky.fetchBalances(request('a'))).rejects.toMatchObject({ name: 'SyncError' })
    const exchange = createSimulatedExchange()
    exchange.revoke('a')
    await expect(exchange.fetchBalances(request('a'))).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    await expect(exchange.fetchBalances(request('b'))).resolves.toBeDefined()
  })

  it('takes its latency on the given clock and honours the abort signal', async () => {
    const clock = new FakeClock()
    const exchange = createSimulatedExchange({ latencyMs: 1_000, clock })
    let done = false
    const call = exchange.fetchBalances(request('a')).then(() => (done = true))
    await clock.advance(999)
    expect(done).toBe(false)
    await clock.advance(1)
    await call
    expect(done).toBe(true)
    const controller = new AbortController()
    const aborted = exchange.fetchBalances(request('a', controller.signal))
    controller.abort(new Error('stop'))
    await expect(aborted).rejects.toThrow('stop')
  })
})
