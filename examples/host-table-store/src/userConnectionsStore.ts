import type {
  Balance,
  Connection,
  CredentialCipher,
  Credentials,
  FailureRecord,
  ListDueOptions,
  NewConnection,
  SuccessRecord,
  SyncStore,
} from '@syncfolio/core'

/** A `pg` Pool, a PGlite instance, or anything with the same `query`. */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

interface Row {
  id: string
  user_id: string
  exchange: string
  label: string | null
  status: Connection['status']
  last_sync_ms: string | number | null
  last_attempt_ms: string | number | null
  next_sync_ms: string | number | null
  failure_count: number
  last_error: { code: string; message: string; at: number } | null
}

/** Epoch ms <-> timestamptz, exactly (no floating-point seconds). */
const ts = (param: string) => `(timestamptz 'epoch' + ${param}::bigint * interval '1 millisecond')`
const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::bigint`

const COLUMNS = `id, user_id, exchange, label, status, ${ms('last_sync_at')} AS last_sync_ms,
  ${ms('last_attempt_at')} AS last_attempt_ms, ${ms('next_sync_at')} AS next_sync_ms, failure_count, last_error`

function assertFinite(method: string, record: Record<string, unknown>, fields: string[]): void {
  for (const field of fields) {
    if (typeof record[field] !== 'number' || !Number.isFinite(record[field])) {
      throw new RangeError(
        `UserConnectionsStore.${method}: "${field}" must be finite; received ${String(record[field])}`,
      )
    }
  }
}

const toMs = (value: string | number | null) => (value === null ? null : Number(value))

function toConnection(row: Row): Connection {
  return {
    id: row.id,
    userId: row.user_id,
    exchange: row.exchange,
    ...(row.label !== null && { label: row.label }),
    status: row.status,
    lastSyncAt: toMs(row.last_sync_ms),
    lastAttemptAt: toMs(row.last_attempt_ms),
    nextSyncAt: toMs(row.next_sync_ms),
    failureCount: row.failure_count,
    lastError: row.last_error,
  }
}

/**
 * A SyncStore over the host's own `user_connections` and `user_balances` tables, in the host's types
 * (timestamptz, numeric, jsonb). Every write is one statement, forward-only in its WHERE clause.
 */
export class UserConnectionsStore implements SyncStore {
  readonly #db: Queryable
  readonly #cipher: CredentialCipher

  constructor(db: Queryable, cipher: CredentialCipher) {
    this.#db = db
    this.#cipher = cipher
  }

  async #rows(text: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.#db.query(text, params)).rows as Row[]
  }

  async listDue(now: number, limit: number, options: ListDueOptions = {}): Promise<Connection[]> {
    assertFinite('listDue', { now }, ['now'])
    const params: unknown[] = [now, limit]
    let where = `status = 'active' AND (next_sync_at IS NULL OR next_sync_at <= ${ts('$1')})`
    if (options.exchange !== undefined) {
      params.push(options.exchange)
      where += ` AND exchange = $${params.length}`
    }
    if (options.after) {
      params.push(options.after.id)
      const id = `$${params.length}`
      if (options.after.lastSyncAt === null) {
        where += ` AND (last_sync_at IS NOT NULL OR id > ${id})`
      } else {
        params.push(options.after.lastSyncAt)
        const at = ts(`$${params.length}`)
        where += ` AND last_sync_at IS NOT NULL AND (last_sync_at, id) > (${at}, ${id})`
      }
    }
    const rows = await this.#rows(
      `SELECT ${COLUMNS} FROM user_connections WHERE ${where} ORDER BY last_sync_at NULLS FIRST, id LIMIT $2`,
      params,
    )
    return rows.map(toConnection)
  }

  async get(id: string): Promise<Connection | null> {
    const [row] = await this.#rows(`SELECT ${COLUMNS} FROM user_connections WHERE id = $1`, [id])
    return row ? toConnection(row) : null
  }

  async getCredentials(id: string): Promise<Credentials | null> {
    const { rows } = await this.#db.query('SELECT credentials_sealed FROM user_connections WHERE id = $1', [id])
    const row = rows[0] as { credentials_sealed: string } | undefined
    return row ? this.#cipher.open(id, row.credentials_sealed) : null
  }

  async recordSuccess(id: string, record: SuccessRecord): Promise<boolean> {
    assertFinite('recordSuccess', record as never, ['startedAt', 'finishedAt', 'nextSyncAt'])
    const latest = `(last_attempt_at IS NULL OR last_attempt_at <= ${ts('$2')})`
    // One statement: the forward-only update, then the balances of the connection it updated (none if dropped).
    const { rows } = await this.#db.query(
      `WITH updated AS (
        UPDATE user_connections SET
          last_sync_at = ${ts('$2')},
          next_sync_at = CASE WHEN ${latest} THEN ${ts('$3')} ELSE next_sync_at END,
          failure_count = CASE WHEN ${latest} THEN 0 ELSE failure_count END,
          last_error = CASE WHEN ${latest} THEN NULL ELSE last_error END,
          last_attempt_at = CASE WHEN ${latest} THEN ${ts('$2')} ELSE last_attempt_at END
        WHERE id = $1 AND (last_sync_at IS NULL OR last_sync_at <= ${ts('$2')})
        RETURNING id
      ), incoming AS (
        SELECT * FROM jsonb_to_recordset($4::jsonb) AS b(asset text, free text, used text, total text)
      ), gone AS (
        DELETE FROM user_balances
        WHERE connection_id IN (SELECT id FROM updated) AND asset NOT IN (SELECT asset FROM incoming)
      ), put AS (
        INSERT INTO user_balances (connection_id, asset, free, used, total)
        SELECT u.id, b.asset, b.free::numeric, b.used::numeric, b.total::numeric FROM updated u, incoming b
        ON CONFLICT (connection_id, asset) DO UPDATE SET free = excluded.free, used = excluded.used, total = excluded.total
      )
      SELECT count(*)::int AS n FROM updated`,
      [id, record.startedAt, record.nextSyncAt, JSON.stringify(record.balances)],
    )
    return (rows[0] as { n: number }).n > 0
  }

  async recordFailure(id: string, record: FailureRecord): Promise<boolean> {
    assertFinite('recordFailure', record as never, ['startedAt', 'finishedAt', 'nextSyncAt'])
    const error = { code: record.error.code, message: record.error.message, at: record.finishedAt }
    const rows = await this.#rows(
      `UPDATE user_connections SET
        last_attempt_at = ${ts('$2')}, next_sync_at = ${ts('$3')}, failure_count = failure_count + 1,
        last_error = $4::jsonb${record.disable ? `, status = 'error'` : ''}
      WHERE id = $1 AND (last_attempt_at IS NULL OR last_attempt_at <= ${ts('$2')})
      RETURNING id`,
      [id, record.startedAt, record.nextSyncAt, JSON.stringify(error)],
    )
    return rows.length > 0
  }

  async listByUser(userId: string): Promise<Connection[]> {
    const rows = await this.#rows(
      `SELECT ${COLUMNS} FROM user_connections WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    )
    return rows.map(toConnection)
  }

  async getBalances(id: string): Promise<Balance[] | null> {
    const { rows } = await this.#db.query(
      `SELECT c.id, b.asset, b.free::text AS free, b.used::text AS used, b.total::text AS total
       FROM user_connections c LEFT JOIN user_balances b ON b.connection_id = c.id
       WHERE c.id = $1 ORDER BY b.asset`,
      [id],
    )
    if (rows.length === 0) return null
    return (rows as Array<Balance & { asset: string | null }>)
      .filter((row) => row.asset !== null)
      .map(({ asset, free, used, total }) => ({ asset, free, used, total }))
  }

  async add(input: NewConnection): Promise<Connection> {
    const id = globalThis.crypto.randomUUID()
    const sealed = await this.#cipher.seal(id, input.credentials)
    const [row] = await this.#rows(
      `INSERT INTO user_connections (id, user_id, exchange, label, credentials_sealed)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [id, input.userId, input.exchange, input.label ?? null, sealed],
    )
    return toConnection(row as Row)
  }

  async updateCredentials(id: string, credentials: Credentials): Promise<Connection | null> {
    const sealed = await this.#cipher.seal(id, credentials)
    const [row] = await this.#rows(
      `UPDATE user_connections SET credentials_sealed = $2, status = 'active', next_sync_at = NULL,
        failure_count = 0, last_error = NULL
      WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, sealed],
    )
    return row ? toConnection(row) : null
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#rows('DELETE FROM user_connections WHERE id = $1 RETURNING id', [id])).length > 0
  }
}
