import type { SyncStore } from '@syncfolio/core'
import type { FakeExchangeId, FakeExchangeServer, FakeFaultHandle } from '@syncfolio/testing'
import { type Response, Router } from 'express'
import type { DemoState } from '../shared/demoStateSchema.js'
import type { DemoAccount } from './demoAccounts.js'

export interface DemoRouterOptions {
  fake: FakeExchangeServer
  store: SyncStore
  userId: string
  accounts: readonly DemoAccount[]
  settings: Pick<DemoState, 'intervalMs' | 'staleAfterMs' | 'manualSyncIntervalMs'>
}

const EXCHANGES: readonly FakeExchangeId[] = ['binance', 'okx']

/**
 * Demo-only controls over the fake exchange, so the dashboard's failure states can be seen: an exchange that
 * answers 503 (transient: the scheduler backs off, the badge turns stale) and a revoked key (permanent: the
 * connection goes to `error` until new keys arrive). They act on the fake exchange only, never on syncfolio.
 */
export function demoRouter(options: DemoRouterOptions): Router {
  const { fake, store, userId, accounts, settings } = options
  const outages = new Map<FakeExchangeId, FakeFaultHandle>()
  const router = Router()

  const sendState = async (res: Response) => {
    const connectedKeys = new Set<string>()
    for (const connection of await store.listByUser(userId)) {
      const credentials = await store.getCredentials(connection.id)
      if (credentials) connectedKeys.add(`${connection.exchange}/${credentials.apiKey}`)
    }
    const state: DemoState = {
      ...settings,
      exchanges: EXCHANGES.map((id) => ({ id, failing: outages.has(id) })),
      keys: accounts.map((account) => ({
        id: account.id,
        exchange: account.exchange,
        label: account.label,
        apiKey: account.apiKey,
        secret: account.secret,
        password: account.password ?? null,
        revoked: fake.account(account.exchange, account.apiKey)?.revoked ?? false,
        connected: connectedKeys.has(`${account.exchange}/${account.apiKey}`),
      })),
    }
    res.set('Cache-Control', 'no-store').json(state)
  }

  router.get('/', async (_req, res) => sendState(res))

  router.post('/exchanges/:exchange/:action', async (req, res) => {
    const exchange = EXCHANGES.find((id) => id === req.params.exchange)
    const { action } = req.params
    if (!exchange || (action !== 'fail' && action !== 'recover')) return notFound(res)
    if (action === 'fail' && !outages.has(exchange)) {
      // Maintenance is a transient failure: the connection stays active and is retried with backoff.
      outages.set(exchange, fake.inject({ type: 'maintenance' }, { exchange }))
    }
    if (action === 'recover') {
      outages.get(exchange)?.remove()
      outages.delete(exchange)
    }
    await sendState(res)
  })

  router.post('/keys/:id/:action', async (req, res) => {
    const account = accounts.find(({ id }) => id === req.params.id)
    const { action } = req.params
    const fakeAccount = account && fake.account(account.exchange, account.apiKey)
    if (!fakeAccount || (action !== 'revoke' && action !== 'restore')) return notFound(res)
    if (action === 'revoke') fakeAccount.revoke()
    else fakeAccount.restore()
    await sendState(res)
  })

  return router
}

function notFound(res: Response): void {
  res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such demo control.' } })
}
