import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createCredentialCipher, generateCredentialKey, MemoryStore, type SyncStore } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import { SqliteStore } from '@syncfolio/sqlite'
import pg from 'pg'

export interface DemoStore {
  store: SyncStore
  /** What it is, for the startup line: `memory`, the SQLite file, or the Postgres host. */
  description: string
  close(): Promise<void>
}

/**
 * The demo's store: Postgres when `databaseUrl` is given, else a SQLite file in `dataDir`, else memory. The
 * credential key is made once, on first start, in `dataDir/syncfolio.key` (mode 600), beside the database and
 * never inside it.
 */
export async function openStore(options: { dataDir?: string; databaseUrl?: string }): Promise<DemoStore> {
  const { dataDir, databaseUrl } = options
  if (dataDir === undefined && databaseUrl === undefined) {
    return { store: new MemoryStore(), description: 'memory (lost on restart)', close: async () => {} }
  }
  const cipher = createCredentialCipher({ keys: { k1: readOrMakeKey(dataDir) }, primary: 'k1' })
  if (databaseUrl !== undefined) {
    const store = new PostgresStore({ db: new pg.Pool({ connectionString: databaseUrl }), cipher })
    await store.migrate()
    return { store, description: `Postgres at ${new URL(databaseUrl).host}`, close: () => store.close() }
  }
  const filename = join(dataDir as string, 'syncfolio.db')
  const store = new SqliteStore({ filename, cipher })
  await store.migrate()
  return { store, description: `SQLite file ${filename}`, close: () => store.close() }
}

function readOrMakeKey(dataDir: string | undefined): string {
  if (dataDir === undefined) {
    const key = process.env.SYNCFOLIO_KEY
    if (!key)
      throw new Error('With SYNCFOLIO_DATABASE_URL and no data folder, set SYNCFOLIO_KEY (generateCredentialKey()).')
    return key
  }
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'syncfolio.key')
  try {
    writeFileSync(file, `${generateCredentialKey()}\n`, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  return readFileSync(file, 'utf8').trim()
}
