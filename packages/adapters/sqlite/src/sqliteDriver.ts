import type { SqlDriver, SqlExecutor } from '@syncfolio/sql'
import type Database from 'better-sqlite3'

interface Prepared {
  statement: Database.Statement
  /** For each `?` in order, the index of its `$n` parameter. */
  order: number[]
  returnsRows: boolean
}

/**
 * Write sections of every SqliteStore in this process, one after another. better-sqlite3 waits for a lock by
 * blocking the thread, so two connections of one process must never wait for each other.
 */
let exclusiveQueue: Promise<unknown> = Promise.resolve()

/** A SqlDriver over one better-sqlite3 connection. Statements are prepared once and cached. */
export function sqliteDriver(db: Database.Database): SqlDriver {
  const cache = new Map<string, Prepared>()
  const prepare = (text: string): Prepared => {
    let prepared = cache.get(text)
    if (!prepared) {
      const order: number[] = []
      const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1)
        return '?'
      })
      const statement = db.prepare(sql)
      prepared = { statement, order, returnsRows: statement.reader }
      cache.set(text, prepared)
    }
    return prepared
  }
  const bind = (prepared: Prepared, params: readonly unknown[]) =>
    prepared.order.map((index) => {
      const value = params[index]
      return typeof value === 'boolean' ? Number(value) : value
    })
  const executor: SqlExecutor = {
    async query<R>(text: string, params: readonly unknown[] = []) {
      const prepared = prepare(text)
      return prepared.statement.all(...bind(prepared, params)) as R[]
    },
    async run(text: string, params: readonly unknown[] = []) {
      const prepared = prepare(text)
      return prepared.statement.run(...bind(prepared, params)).changes
    },
  }
  return {
    ...executor,
    exclusive(_lockName, work) {
      const run = exclusiveQueue.then(async () => {
        db.exec('BEGIN IMMEDIATE')
        try {
          const result = await work(executor)
          db.exec('COMMIT')
          return result
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK')
          throw error
        }
      })
      exclusiveQueue = run.catch(() => {})
      return run
    },
    async close() {
      cache.clear()
      db.close()
    },
  }
}
