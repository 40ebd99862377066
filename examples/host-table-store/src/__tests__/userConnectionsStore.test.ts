import { PGlite } from '@electric-sql/pglite'
import { createCredentialCipher, generateCredentialKey, type SyncStore } from '@syncfolio/core'
import { describeSyncStoreConformance } from '@syncfolio/testing/conformance'
import { afterAll } from 'vitest'
import { hostSchema } from '../schema.sql.js'
import { UserConnectionsStore } from '../userConnectionsStore.js'

const cipher = createCredentialCipher({ keys: { k1: generateCredentialKey() }, primary: 'k1' })
const database = new PGlite()
const databases = new WeakMap<SyncStore, PGlite>()
afterAll(() => database.close())

describeSyncStoreConformance(
  "UserConnectionsStore over the host's user_connections table",
  async () => {
    // A fresh schema per test, as a host's test setup resets its own.
    const db = database
    await db.exec(`DROP TABLE IF EXISTS user_balances, user_connections; ${hostSchema}`)
    const store = new UserConnectionsStore(db, cipher)
    databases.set(store, db)
    return store
  },
  {
    openAnother: (store) => {
      const db = databases.get(store) as PGlite
      const other = new UserConnectionsStore(db, cipher)
      databases.set(other, db)
      return other
    },
    rawContents: async (store) => {
      const db = databases.get(store) as PGlite
      const { rows } = await db.query<{ dump: string }>(
        `SELECT coalesce((SELECT string_agg(row_to_json(c)::text, E'\\n') FROM user_connections c), '') ||
                coalesce((SELECT string_agg(row_to_json(b)::text, E'\\n') FROM user_balances b), '') AS dump`,
      )
      return (rows[0] as { dump: string }).dump
    },
    // The host's table is paged like the stores' (keyset on last_sync_at, id); 20,000 keeps this example quick.
    pagingConnections: 20_000,
  },
)
