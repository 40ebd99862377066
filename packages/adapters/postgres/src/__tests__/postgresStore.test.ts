import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { createCredentialCipher, generateCredentialKey, InvalidOptionError, type SyncStore } from '@syncfolio/core'
import { describeSyncStoreConformance } from '@syncfolio/testing/conformance'
import { type PostgresServer, startPostgres } from '@syncfolio/testing/services'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresStore } from '../postgresStore.js'

const cipher = createCredentialCipher({ keys: { k1: generateCredentialKey() }, primary: 'k1' })
const credentials = { apiKey: 'api-key-XXXXXXXXXXXX', secret: 'secret-YYYYYYYYYYYY' }

let tables = 0
const prefixes = new WeakMap<SyncStore, string>()
const nextPrefix = () => `t${++tables}_${process.pid}_`

async function dumpTables(db: PgQueryable, prefix: string): Promise<string> {
  const rows = await db.query(`SELECT string_agg(row_to_json(t)::text, E'\\n') AS dump FROM ${prefix}connections t`)
  const migrations = await db.query(
    `SELECT string_agg(row_to_json(m)::text, E'\\n') AS dump FROM ${prefix}migrations m`,
  )
  return `${(rows.rows[0] as { dump: string | null }).dump ?? ''}\n${(migrations.rows[0] as { dump: string | null }).dump ?? ''}`
}

interface PgQueryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

/** The conformance suite over stores that `open(prefix)` makes, each on fresh tables of its own prefix. */
function conformance(name: string, open: (prefix: string) => PostgresStore, dbOf: (store: SyncStore) => PgQueryable) {
  describeSyncStoreConformance(
    name,
    async () => {
      const store = open(nextPrefix())
      await store.migrate()
      return store
    },
    {
      teardown: (store) => (store as PostgresStore).close(),
      openAnother: (store) => open(prefixes.get(store) as string),
      close: (store) => (store as PostgresStore).close(),
      rawContents: (store) => dumpTables(dbOf(store), prefixes.get(store) as string),
    },
  )
}

describe('PostgresStore on PGlite', () => {
  const db = new PGlite()
  afterAll(() => db.close())
  const open = (prefix: string) => {
    const store = new PostgresStore({ db, cipher, tablePrefix: prefix, closeDb: false })
    prefixes.set(store, prefix)
    return store
  }

  conformance('PostgresStore on PGlite', open, () => db)

  it('keeps everything in a PGlite data folder across a close and a new PGlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncfolio-pglite-'))
    try {
      const first = new PostgresStore({ db: new PGlite(dir), cipher })
      const added = await first.add({ userId: 'u', exchange: 'okx', credentials })
      await first.recordSuccess(added.id, {
        balances: [{ asset: 'BTC', free: '0.1', used: '0', total: '0.1' }],
        startedAt: 1_000,
        finishedAt: 1_100,
        nextSyncAt: 61_000,
      })
      await first.close()
      const second = new PostgresStore({ db: new PGlite(dir), cipher })
      expect(await second.get(added.id)).toMatchObject({ lastSyncAt: 1_000, nextSyncAt: 61_000 })
      expect(await second.getCredentials(added.id)).toEqual(credentials)
      expect(await second.getBalances(added.id)).toEqual([{ asset: 'BTC', free: '0.1', used: '0', total: '0.1' }])
      await second.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('migrates once, records the version, and is idempotent when called concurrently', async () => {
    const prefix = nextPrefix()
    const stores = [open(prefix), open(prefix), open(prefix)]
    const applied = await Promise.all(stores.map((store) => store.migrate()))
    expect(applied.flat()).toEqual([1])
    expect(await stores[0]?.migrate()).toEqual([])
    const { rows } = await db.query(`SELECT version, name FROM ${prefix}migrations`)
    expect(rows).toEqual([{ version: 1, name: 'connections' }])
  })

  it('runs listDue on an index in its order, not a sort of every due row', async () => {
    const store = open(nextPrefix())
    await store.migrate()
    const prefix = prefixes.get(store) as string
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM ${prefix}connections WHERE status = 'active' AND due_at + 0 <= 5 AND exchange = 'okx'
       AND (exchange, sync_order, id) > ('okx', 1, 'x') ORDER BY exchange, sync_order, id LIMIT 100`,
    )
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n')
    expect(text).toContain(`${prefix}connections_due_by_exchange`)
    expect(text).not.toMatch(/Sort/)
  })

  it('re-encrypts every connection under a new primary key, in batches, and then the old key can go', async () => {
    const k1 = generateCredentialKey()
    const k2 = generateCredentialKey()
    const prefix = nextPrefix()
    const old = new PostgresStore({
      db,
      cipher: createCredentialCipher({ keys: { k1 }, primary: 'k1' }),
      tablePrefix: prefix,
      closeDb: false,
    })
    const made = await Promise.all(
      Array.from({ length: 25 }, (_, n) =>
        old.add({ userId: 'u', exchange: 'binance', credentials: { apiKey: `key-${n}`, secret: `s-${n}` } }),
      ),
    )
    const rotated = new PostgresStore({
      db,
      cipher: createCredentialCipher({ keys: { k1, k2 }, primary: 'k2' }),
      tablePrefix: prefix,
      closeDb: false,
    })
    expect(await rotated.reencrypt({ batchSize: 4 })).toEqual({ reencrypted: 25, unreadable: [] })
    expect(await rotated.reencrypt({ batchSize: 4 })).toEqual({ reencrypted: 0, unreadable: [] })
    const onlyNew = new PostgresStore({
      db,
      cipher: createCredentialCipher({ keys: { k2 }, primary: 'k2' }),
      tablePrefix: prefix,
      closeDb: false,
    })
    for (const [n, connection] of made.entries()) {
      expect(await onlyNew.getCredentials(connection.id)).toEqual({ apiKey: `key-${n}`, secret: `s-${n}` })
    }
    await expect(old.getCredentials((made[0] as { id: string }).id)).rejects.toThrow(/key "k2"/)
  })

  it('fails only the connection whose stored credentials were tampered with', async () => {
    const store = open(nextPrefix())
    const prefix = prefixes.get(store) as string
    const [a, b] = await Promise.all([
      store.add({ userId: 'u', exchange: 'binance', credentials }),
      store.add({ userId: 'u', exchange: 'binance', credentials }),
    ])
    await db.query(
      `UPDATE ${prefix}connections SET credentials = (SELECT credentials FROM ${prefix}connections WHERE id = $1) WHERE id = $2`,
      [b?.id, a?.id],
    )
    await expect(store.getCredentials(a?.id as string)).rejects.toMatchObject({
      code: 'CREDENTIALS_UNREADABLE',
      connectionId: a?.id,
    })
    expect(await store.getCredentials(b?.id as string)).toEqual(credentials)
    expect(await store.reencrypt()).toEqual({ reencrypted: 0, unreadable: [] })
  })

  it('refuses to start without a cipher, saying how to make a key', () => {
    expect(() => new PostgresStore({ db } as never)).toThrow(InvalidOptionError)
    expect(() => new PostgresStore({ db } as never)).toThrow(/"cipher" is invalid: is required.*generateCredentialKey/)
    expect(() => new PostgresStore({ cipher } as never)).toThrow(/"db" is invalid: must be a pg Pool or a PGlite/)
    expect(() => new PostgresStore({ db, cipher, tablePrefix: 'Bad-Prefix' })).toThrow(/"tablePrefix"/)
  })

  it('rejects every call after close', async () => {
    const store = open(nextPrefix())
    await store.close()
    await expect(store.get('x')).rejects.toThrow('PostgresStore is closed')
  })
})

describe('PostgresStore on a Postgres server', () => {
  let server: PostgresServer
  const pools = new WeakMap<SyncStore, pg.Pool>()
  beforeAll(async () => {
    server = await startPostgres()
  }, 120_000)
  afterAll(() => server?.stop())
  const open = (prefix: string) => {
    const pool = new pg.Pool({ connectionString: server.connectionString, max: 4 })
    const store = new PostgresStore({ db: pool, cipher, tablePrefix: prefix })
    prefixes.set(store, prefix)
    pools.set(store, pool)
    return store
  }

  conformance('PostgresStore on a Postgres server', open, (store) => pools.get(store) as pg.Pool)

  it('migrates once when several processes start together', async () => {
    const prefix = nextPrefix()
    const stores = Array.from({ length: 4 }, () => open(prefix))
    try {
      const applied = await Promise.all(stores.map((store) => store.migrate()))
      expect(applied.flat()).toEqual([1])
      const { rows } = await (pools.get(stores[0] as SyncStore) as pg.Pool).query(
        `SELECT count(*)::int AS n FROM ${prefix}migrations`,
      )
      expect(rows).toEqual([{ n: 1 }])
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })
})
