import { SYNCFOLIO_STORE } from '@syncfolio/nest'
import { PostgresStore } from '@syncfolio/postgres'
import { expect, it } from 'vitest'
import { createNestApi } from '../createNestApi.js'

it('keeps connections in a PostgresStore (PGlite without SYNCFOLIO_DATABASE_URL), closed on shutdown', async () => {
  const app = await createNestApi({ logger: false })
  await app.init()
  const store = app.get<PostgresStore>(SYNCFOLIO_STORE)
  expect(store).toBeInstanceOf(PostgresStore)
  const added = await store.add({ userId: 'u', exchange: 'binance', credentials: { apiKey: 'k', secret: 's' } })
  expect(await store.getCredentials(added.id)).toEqual({ apiKey: 'k', secret: 's' })
  await app.close()
  await expect(store.get(added.id)).rejects.toThrow('PostgresStore is closed')
})
