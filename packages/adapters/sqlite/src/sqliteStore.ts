import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseOptions } from '@syncfolio/core/runner'
import { type SqlStoreOptions, SqlSyncStore } from '@syncfolio/sql'
import Database from 'better-sqlite3'
import { z } from 'zod'
import { sqliteMigrations } from './migrations.js'
import { sqliteDriver } from './sqliteDriver.js'

export interface SqliteStoreOptions extends SqlStoreOptions {
  /** The database file; its folder is created when missing. `':memory:'` keeps it in memory (tests). */
  filename: string
  /**
   * How long a write waits for another process's write to finish before failing, in ms.
   * @default 5000
   */
  busyTimeoutMs?: number
}

const OWNER = 'SqliteStore'

const schema = z.object({
  filename: z.string().min(1),
  busyTimeoutMs: z.number().int().nonnegative().default(5_000),
})

/**
 * A SyncStore in one SQLite file, on better-sqlite3. WAL mode, so readers never wait for the writer, and a busy
 * timeout, so several processes on one machine can share the file. Same tables and semantics as PostgresStore.
 *
 * ```ts
 * const store = new SqliteStore({ filename: './data/syncfolio.db', cipher })
 * ```
 */
export class SqliteStore extends SqlSyncStore {
  constructor(options: SqliteStoreOptions) {
    // The shared options (cipher, tablePrefix) are checked by SqlSyncStore; these are SQLite's own.
    const { filename, busyTimeoutMs } = parseOptions(OWNER, schema.loose(), options)
    if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true })
    const db = new Database(filename, { timeout: busyTimeoutMs })
    try {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      super(OWNER, sqliteDriver(db), sqliteMigrations, options)
    } catch (error) {
      db.close()
      throw error
    }
  }
}
