import { parseOptions } from '@syncfolio/core/runner'
import { type SqlStoreOptions, SqlSyncStore } from '@syncfolio/sql'
import { z } from 'zod'
import { postgresMigrations } from './migrations.js'
import { type PgliteLike, type PgPoolLike, postgresDriver } from './postgresDriver.js'

export interface PostgresStoreOptions extends SqlStoreOptions {
  /** A `pg` Pool (production) or a PGlite instance (embedded, tests). */
  db: PgPoolLike | PgliteLike
  /**
   * Whether `close()` ends `db`. Set false when the app keeps using the pool after the store.
   * @default true
   */
  closeDb?: boolean
}

const OWNER = 'PostgresStore'

const dbSchema = z.object({
  db: z.custom<PgPoolLike | PgliteLike>(
    (value) => typeof value === 'object' && value !== null && typeof (value as PgPoolLike).query === 'function',
    'must be a pg Pool or a PGlite instance',
  ),
  closeDb: z.boolean().default(true),
})

/**
 * A SyncStore in Postgres. Tables are prefixed (`syncfolio_connections`, `syncfolio_migrations`); `migrate()`
 * creates them (every method runs it first if needed). Credentials are sealed by the cipher before they are
 * written; balances are JSON text of exact decimal strings.
 *
 * ```ts
 * const store = new PostgresStore({ db: new pg.Pool({ connectionString }), cipher })
 * ```
 */
export class PostgresStore extends SqlSyncStore {
  constructor(options: PostgresStoreOptions) {
    // The shared options (cipher, tablePrefix) are checked by SqlSyncStore; these are Postgres' own.
    const { db, closeDb } = parseOptions(OWNER, dbSchema.loose(), options)
    super(OWNER, postgresDriver(db, closeDb), postgresMigrations, options)
  }
}
