/**
 * What the shared SQL store needs of a database. Statements use `$1, $2, …` placeholders; a driver for a
 * database that numbers them otherwise rewrites them. Integers may come back as numbers, bigints or strings.
 */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>
  /** Runs a statement, resolving to the number of rows it changed. */
  run(text: string, params?: readonly unknown[]): Promise<number>
}

export interface SqlDriver extends SqlExecutor {
  /**
   * Runs `work` in one transaction that holds a lock no other process can hold at the same time (Postgres: an
   * advisory lock; SQLite: a write transaction), so migrations run once even when several processes start together.
   */
  exclusive<T>(lockName: string, work: (tx: SqlExecutor) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** One schema version: the statements that bring the previous version to this one. */
export interface Migration {
  version: number
  name: string
  statements: (prefix: string) => string[]
}
