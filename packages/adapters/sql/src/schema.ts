/**
 * The columns of the connections table, the same in every dialect. `sync_order` is `lastSyncAt` and `due_at` is
 * `nextSyncAt`, with NEVER for null, so one ascending index answers `listDue` in its order on any engine (SQLite
 * sorts nulls first, Postgres last).
 */
export const CONNECTION_COLUMNS =
  'id, user_id, exchange, label, status, sync_order, last_attempt_at, due_at, failure_count, last_error_code, last_error_message, last_error_at'

/** Indexes, identical in both dialects (partial indexes on active connections). */
export const indexStatements = (p: string): string[] => [
  `CREATE INDEX ${p}connections_due_by_exchange ON ${p}connections (exchange, sync_order, id) WHERE status = 'active'`,
  `CREATE INDEX ${p}connections_due ON ${p}connections (sync_order, id) WHERE status = 'active'`,
  `CREATE INDEX ${p}connections_next_by_exchange ON ${p}connections (exchange, due_at) WHERE status = 'active'`,
  `CREATE INDEX ${p}connections_user ON ${p}connections (user_id, seq)`,
  `CREATE INDEX ${p}connections_key ON ${p}connections (credentials_key, id)`,
]

/**
 * The table body after the dialect's own `seq` column (an auto-increment that keeps insertion order for
 * `listByUser`). Times are epoch ms in 64-bit integers; balances are JSON text of decimal strings, exact.
 */
export const connectionTableBody = (bigint: string): string => `
  id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  exchange TEXT NOT NULL,
  label TEXT,
  status TEXT NOT NULL,
  sync_order ${bigint} NOT NULL,
  last_attempt_at ${bigint},
  due_at ${bigint} NOT NULL,
  failure_count INTEGER NOT NULL DEFAULT 0,
  last_error_code TEXT,
  last_error_message TEXT,
  last_error_at ${bigint},
  credentials TEXT NOT NULL,
  credentials_key TEXT NOT NULL,
  balances TEXT NOT NULL DEFAULT '[]',
  created_at ${bigint} NOT NULL`
