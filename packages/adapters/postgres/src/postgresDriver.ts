import type { SqlDriver, SqlExecutor } from '@syncfolio/sql'

export interface QueryResultLike {
  rows: unknown[]
  rowCount?: number | null
  affectedRows?: number
}

/** The part of a `pg` Pool (or Client-per-query pool) the store uses. */
export interface PgPoolLike {
  query(text: string, params?: unknown[]): Promise<QueryResultLike>
  connect(): Promise<PgClientLike>
  end(): Promise<void>
}

export interface PgClientLike {
  query(text: string, params?: unknown[]): Promise<QueryResultLike>
  release(error?: Error | boolean): void
}

/** The part of a PGlite instance (`@electric-sql/pglite`) the store uses. */
export interface PgliteLike {
  query(text: string, params?: unknown[]): Promise<QueryResultLike>
  transaction<T>(
    work: (tx: { query(text: string, params?: unknown[]): Promise<QueryResultLike> }) => Promise<T>,
  ): Promise<T>
  close(): Promise<void>
}

const isPool = (db: PgPoolLike | PgliteLike): db is PgPoolLike =>
  typeof (db as PgPoolLike).connect === 'function' && typeof (db as PgPoolLike).end === 'function'

function executor(target: { query(text: string, params?: unknown[]): Promise<QueryResultLike> }): SqlExecutor {
  return {
    async query<R>(text: string, params: readonly unknown[] = []) {
      return (await target.query(text, [...params])).rows as R[]
    },
    async run(text: string, params: readonly unknown[] = []) {
      const result = await target.query(text, [...params])
      return result.rowCount ?? result.affectedRows ?? 0
    },
  }
}

const LOCK = 'SELECT pg_advisory_xact_lock(hashtext($1))'

/** A SqlDriver over a `pg` Pool or a PGlite instance; `close()` ends it when `closeDb`. */
export function postgresDriver(db: PgPoolLike | PgliteLike, closeDb: boolean): SqlDriver {
  const base = executor(db)
  return {
    ...base,
    async exclusive(lockName, work) {
      if (!isPool(db)) {
        return db.transaction(async (tx) => {
          await tx.query(LOCK, [lockName])
          return work(executor(tx))
        })
      }
      const client = await db.connect()
      try {
        await client.query('BEGIN')
        await client.query(LOCK, [lockName])
        const result = await work(executor(client))
        await client.query('COMMIT')
        client.release()
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        client.release(true)
        throw error
      }
    },
    async close() {
      if (!closeDb) return
      if (isPool(db)) await db.end()
      else await db.close()
    },
  }
}
