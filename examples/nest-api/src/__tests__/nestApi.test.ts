import { compareDecimals, type SyncScheduler } from '@syncfolio/core'
import { SYNCFOLIO_SCHEDULER } from '@syncfolio/nest'
import { expect, it } from 'vitest'
import { createNestApi } from '../createNestApi.js'

it('syncs the demo accounts with ccxt against the fake exchange and serves each user their own', async () => {
  const app = await createNestApi({ logger: false })
  const scheduler = app.get<SyncScheduler>(SYNCFOLIO_SCHEDULER)
  const synced = new Set<string>()
  // Alice's two connections and Bob's one, seeded before the schedule starts.
  const firstSweep = new Promise<void>((resolve) => {
    scheduler.on('sync:success', ({ connectionId }) => {
      synced.add(connectionId)
      if (synced.size === 3) resolve()
    })
  })
  await app.listen(0, '127.0.0.1')
  try {
    await firstSweep
    const api = `${await app.getUrl()}/api`
    const get = async (path: string, user?: string) => {
      const response = await fetch(`${api}${path}`, { headers: user ? { 'x-user-id': user } : {} })
      return { status: response.status, json: await response.json() }
    }

    const portfolio = await get('/me/portfolio', 'alice')
    expect(portfolio.status).toBe(200)
    const totals = new Map<string, string>(
      portfolio.json.totals.map(({ asset, total }: { asset: string; total: string }) => [asset, total]),
    )
    expect([...totals.keys()]).toEqual(['BTC', 'ETH', 'USDT'])
    expect(compareDecimals(totals.get('BTC') as string, '0.76')).toBe(0)
    expect(compareDecimals(totals.get('ETH') as string, '3.1')).toBe(0)
    expect(compareDecimals(totals.get('USDT') as string, '1250.75')).toBe(0)
    expect(portfolio.json.asOf).toEqual(expect.any(Number))

    expect((await get('/syncfolio/connections')).status).toBe(401)
    const bobs = await get('/syncfolio/holdings', 'bob')
    expect(bobs.json.holdings.map(({ asset }: { asset: string }) => asset)).toEqual(['ETH'])
    const alices = (await get('/syncfolio/connections', 'alice')).json.connections as Array<{ id: string }>
    expect(alices).toHaveLength(2)
    expect((await get(`/syncfolio/connections/${alices[0]?.id}`, 'bob')).status).toBe(404)

    // Bob connects his OKX keys: the module test-fetches them through ccxt before storing them.
    const added = await fetch(`${api}/syncfolio/connections`, {
      method: 'POST',
      headers: { 'x-user-id': 'bob', 'content-type': 'application/json' },
      body: JSON.stringify({
        exchange: 'okx',
        label: 'Bob on OKX',
        credentials: { apiKey: 'demo-bob-okx-key', secret: 'demo-bob-okx-secret', password: 'demo-bob-okx-passphrase' },
      }),
    })
    expect(added.status).toBe(201)
    const refreshed = await fetch(`${api}/me/portfolio/refresh`, { method: 'POST', headers: { 'x-user-id': 'bob' } })
    expect(await refreshed.json()).toEqual({ synced: 2, failed: [] })
    const bobsTotals = (await get('/me/portfolio', 'bob')).json.totals as Array<{ asset: string }>
    expect(bobsTotals.map(({ asset }) => asset)).toEqual(['ETH', 'SOL'])
  } finally {
    await app.close()
  }
})
