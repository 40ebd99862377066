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
import { InvalidOptionError } from '@syncfolio/core'
import { freshConnection, parseOptions } from '@syncfolio/core/runner'
import { z } from 'zod'
import { CONNECTION_COLUMNS } from './schema.js'
import type { Migration, SqlDriver } from './sqlDriver.js'
import { assertTimes, fromNever, NEVER, orNever, toNumber } from './times.js'

/** Options every SQL store shares. */
export interface SqlStoreOptions {
  /**
   * Seals credentials before they reach the database: `createCredentialCipher({ keys, primary })` from
   * `@syncfolio/core`. `'plaintext'` stores them unencrypted, for tests only.
   */
  cipher: CredentialCipher | 'plaintext'
  /**
   * Prefix of every table and index name.
   * @default 'syncfolio_'
   */
  tablePrefix?: string
}

export interface ReencryptOptions {
  /**
   * Connections read and rewritten per round trip.
   * @default 500
   */
  batchSize?: number
}

export interface ReencryptResult {
  /** Connections now sealed under the primary key. */
  reencrypted: number
  /** Connections whose credentials could not be opened (see CredentialsUnreadableError); left as they were. */
  unreadable: string[]
}

interface ConnectionRow {
  id: string
  user_id: string
  exchange: string
  label: string | null
  status: Connection['status']
  sync_order: unknown
  last_attempt_at: unknown
  due_at: unknown
  failure_count: unknown
  last_error_code: string | null
  last_error_message: string | null
  last_error_at: unknown
}

const HOW_TO_MAKE_A_KEY =
  'pass createCredentialCipher({ keys: { k1: <key> }, primary: "k1" }) from @syncfolio/core, with a key made once by generateCredentialKey() and kept outside the database (or "plaintext" to store credentials unencrypted, for tests)'

const optionsSchema = z.object({
  cipher: z.union([
    z.literal('plaintext'),
    z.custom<CredentialCipher>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as CredentialCipher).seal === 'function' &&
        typeof (value as CredentialCipher).open === 'function',
    ),
  ]),
  tablePrefix: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,30}$/, 'must be lower-case letters, digits and "_", starting with a letter or "_"')
    .default('syncfolio_'),
})

const PLAINTEXT_KEY = 'plaintext'

/**
 * A SyncStore over SQL, shared by PostgresStore and SqliteStore: the statements are the same in both dialects,
 * only the driver and the first migration's column types differ. Every write is one statement, so it is atomic
 * per connection and safe for several processes on one database; `recordSuccess` and `recordFailure` are
 * forward-only in their `WHERE` clause, never read-then-write.
 */
export class SqlSyncStore implements SyncStore {
  readonly #owner: string
  readonly #driver: SqlDriver
  readonly #migrations: readonly Migration[]
  readonly #cipher: CredentialCipher | null
  readonly #table: string
  readonly #prefix: string
  #ready: Promise<void> | null = null
  #closed = false

  constructor(owner: string, driver: SqlDriver, migrations: readonly Migration[], options: SqlStoreOptions) {
    if (typeof options === 'object' && options !== null && (options as { cipher?: unknown }).cipher === undefined) {
      throw new InvalidOptionError(owner, 'cipher', `is required: ${HOW_TO_MAKE_A_KEY}`, undefined)
    }
    const parsed = parseOptions(owner, optionsSchema, options)
    this.#owner = owner
    this.#driver = driver
    this.#migrations = migrations
    this.#cipher = parsed.cipher === 'plaintext' ? null : parsed.cipher
    this.#prefix = parsed.tablePrefix
    this.#table = `${parsed.tablePrefix}connections`
  }

  /**
   * Brings the schema to the newest version. Idempotent, and safe when several processes call it at once: the
   * versions run one after another under a lock, each recorded in `<prefix>migrations`. Every other method runs it
   * first if it has not run yet. Resolves to the versions it applied.
   */
  async migrate(): Promise<number[]> {
    this.#assertOpen()
    const p = this.#prefix
    const applied = await this.#driver.exclusive(`${p}migrate`, async (tx) => {
      await tx.run(
        `CREATE TABLE IF NOT EXISTS ${p}migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      )
      const done = new Set(
        (await tx.query<{ version: unknown }>(`SELECT version FROM ${p}migrations`)).map((row) => Number(row.version)),
      )
      const now: number[] = []
      for (const migration of this.#migrations) {
        if (done.has(migration.version)) continue
        for (const statement of migration.statements(p)) await tx.run(statement)
        await tx.run(`INSERT INTO ${p}migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          Date.now(),
        ])
        now.push(migration.version)
      }
      return now
    })
    this.#ready ??= Promise.resolve()
    return applied
  }

  async listDue(now: number, limit: number, options: ListDueOptions = {}): Promise<Connection[]> {
    assertTimes(`${this.#owner}.listDue`, { now }, ['now'])
    await this.#open()
    if (options.exchange !== undefined) {
      const few = await this.#fewDue(now, limit, options.exchange, options.after)
      if (few) return few
    }
    const params: unknown[] = [now, limit]
    // `due_at + 0` keeps the due-time index out of this plan: without table statistics (PGlite never has them, a
    // fresh server has not analysed new rows) an engine may read every due row by it and sort them all. With an
    // exchange, the keyset and the order lead with it, so the plan is a walk of the per-exchange index.
    let where = `status = 'active' AND due_at + 0 <= $1`
    let key = 'sync_order, id'
    let cursor = ''
    if (options.exchange !== undefined) {
      params.push(options.exchange)
      where += ` AND exchange = $3`
      key = 'exchange, sync_order, id'
      cursor = '$3, '
    }
    // The first page too has a lower bound on the keyset (the smallest key), or a planner that thinks an
    // exchange holds few rows reads them all by another index and sorts them.
    const after = options.after ?? { lastSyncAt: null, id: '' }
    params.push(orNever(after.lastSyncAt), after.id)
    const comparison = options.after ? '>' : '>='
    where += ` AND (${key}) ${comparison} (${cursor}$${params.length - 1}, $${params.length})`
    const rows = await this.#driver.query<ConnectionRow>(
      `SELECT ${CONNECTION_COLUMNS} FROM ${this.#table} WHERE ${where} ORDER BY ${key} LIMIT $2`,
      params,
    )
    return rows.map(toConnection)
  }

  /**
   * The page when few connections of the exchange are due (the steady state: each comes due at its own moment):
   * read them off the due-time index and order them here, instead of walking the `lastSyncAt` index past every
   * connection that is not due. Null when more than a few are due; the walk is then the cheaper plan.
   */
  async #fewDue(
    now: number,
    limit: number,
    exchange: string,
    after: ListDueOptions['after'],
  ): Promise<Connection[] | null> {
    const few = Math.max(limit * 4, 64)
    const params: unknown[] = [exchange, now, few + 1]
    let where = `status = 'active' AND exchange = $1 AND due_at <= $2`
    if (after) {
      params.push(orNever(after.lastSyncAt), after.id)
      where += ` AND (sync_order, id) > ($4, $5)`
    }
    const rows = await this.#driver.query<ConnectionRow>(
      `SELECT ${CONNECTION_COLUMNS} FROM ${this.#table} WHERE ${where} ORDER BY due_at LIMIT $3`,
      params,
    )
    if (rows.length > few) return null
    const order = (row: ConnectionRow) => Number(row.sync_order)
    rows.sort((a, b) => order(a) - order(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return rows.slice(0, limit).map(toConnection)
  }

  async get(id: string): Promise<Connection | null> {
    await this.#open()
    const [row] = await this.#driver.query<ConnectionRow>(
      `SELECT ${CONNECTION_COLUMNS} FROM ${this.#table} WHERE id = $1`,
      [id],
    )
    return row ? toConnection(row) : null
  }

  async getCredentials(id: string): Promise<Credentials | null> {
    await this.#open()
    const [row] = await this.#driver.query<{ credentials: string }>(
      `SELECT credentials FROM ${this.#table} WHERE id = $1`,
      [id],
    )
    if (!row) return null
    return this.#cipher ? this.#cipher.open(id, row.credentials) : (JSON.parse(row.credentials) as Credentials)
  }

  async recordSuccess(id: string, record: SuccessRecord): Promise<boolean> {
    assertTimes(`${this.#owner}.recordSuccess`, record as never, ['startedAt', 'finishedAt', 'nextSyncAt'])
    await this.#open()
    // The newest attempt also sets the schedule and clears failures; an older success only refreshes balances.
    const latest = 'last_attempt_at IS NULL OR last_attempt_at <= $2'
    const changed = await this.#driver.run(
      `UPDATE ${this.#table} SET
        sync_order = $2,
        balances = $3,
        due_at = CASE WHEN ${latest} THEN $4 ELSE due_at END,
        failure_count = CASE WHEN ${latest} THEN 0 ELSE failure_count END,
        last_error_code = CASE WHEN ${latest} THEN NULL ELSE last_error_code END,
        last_error_message = CASE WHEN ${latest} THEN NULL ELSE last_error_message END,
        last_error_at = CASE WHEN ${latest} THEN NULL ELSE last_error_at END,
        last_attempt_at = CASE WHEN ${latest} THEN $2 ELSE last_attempt_at END
      WHERE id = $1 AND sync_order <= $2`,
      [id, record.startedAt, JSON.stringify(record.balances.map(pickBalance)), record.nextSyncAt],
    )
    return changed > 0
  }

  async recordFailure(id: string, record: FailureRecord): Promise<boolean> {
    assertTimes(`${this.#owner}.recordFailure`, record as never, ['startedAt', 'finishedAt', 'nextSyncAt'])
    await this.#open()
    const changed = await this.#driver.run(
      `UPDATE ${this.#table} SET
        last_attempt_at = $2,
        due_at = $3,
        failure_count = failure_count + 1,
        last_error_code = $4,
        last_error_message = $5,
        last_error_at = $6${record.disable ? `, status = 'error'` : ''}
      WHERE id = $1 AND (last_attempt_at IS NULL OR last_attempt_at <= $2)`,
      [id, record.startedAt, record.nextSyncAt, record.error.code, record.error.message, record.finishedAt],
    )
    return changed > 0
  }

  async listByUser(userId: string): Promise<Connection[]> {
    await this.#open()
    const rows = await this.#driver.query<ConnectionRow>(
      `SELECT ${CONNECTION_COLUMNS} FROM ${this.#table} WHERE user_id = $1 ORDER BY seq`,
      [userId],
    )
    return rows.map(toConnection)
  }

  async getBalances(id: string): Promise<Balance[] | null> {
    await this.#open()
    const [row] = await this.#driver.query<{ balances: string }>(`SELECT balances FROM ${this.#table} WHERE id = $1`, [
      id,
    ])
    return row ? (JSON.parse(row.balances) as Balance[]) : null
  }

  async add(input: NewConnection): Promise<Connection> {
    await this.#open()
    const connection = freshConnection(globalThis.crypto.randomUUID(), input)
    const [credentials, key] = await this.#seal(connection.id, input.credentials)
    await this.#driver.run(
      `INSERT INTO ${this.#table} (id, user_id, exchange, label, status, sync_order, due_at, failure_count, credentials, credentials_key, balances, created_at)
       VALUES ($1, $2, $3, $4, 'active', $5, $5, 0, $6, $7, '[]', $8)`,
      [connection.id, connection.userId, connection.exchange, input.label ?? null, NEVER, credentials, key, Date.now()],
    )
    return connection
  }

  async updateCredentials(id: string, credentials: Credentials): Promise<Connection | null> {
    await this.#open()
    const [sealed, key] = await this.#seal(id, credentials)
    const [row] = await this.#driver.query<ConnectionRow>(
      `UPDATE ${this.#table} SET credentials = $2, credentials_key = $3, status = 'active', due_at = $4,
        failure_count = 0, last_error_code = NULL, last_error_message = NULL, last_error_at = NULL
      WHERE id = $1 RETURNING ${CONNECTION_COLUMNS}`,
      [id, sealed, key, NEVER],
    )
    return row ? toConnection(row) : null
  }

  async remove(id: string): Promise<boolean> {
    await this.#open()
    return (await this.#driver.run(`DELETE FROM ${this.#table} WHERE id = $1`, [id])) > 0
  }

  /**
   * Re-seals, under the cipher's primary key, every connection sealed under another key, `batchSize` at a time.
   * Run it after making a new key primary; once it reports nothing unreadable, the old key can be dropped. A
   * connection whose credentials change meanwhile keeps its new ones (each rewrite is conditional).
   */
  async reencrypt(options: ReencryptOptions = {}): Promise<ReencryptResult> {
    const cipher = this.#cipher
    if (!cipher) throw new Error(`${this.#owner}.reencrypt: the store was opened with cipher "plaintext"`)
    const { batchSize } = parseOptions(
      `${this.#owner}.reencrypt`,
      z.object({ batchSize: z.number().int().positive().default(500) }),
      options,
    )
    await this.#open()
    const result: ReencryptResult = { reencrypted: 0, unreadable: [] }
    let after = ''
    for (;;) {
      const rows = await this.#driver.query<{ id: string; credentials: string }>(
        `SELECT id, credentials FROM ${this.#table} WHERE credentials_key <> $1 AND id > $2 ORDER BY id LIMIT $3`,
        [cipher.primary, after, batchSize],
      )
      for (const row of rows) {
        let credentials: Credentials
        try {
          credentials = await cipher.open(row.id, row.credentials)
        } catch {
          result.unreadable.push(row.id)
          continue
        }
        const sealed = await cipher.seal(row.id, credentials)
        result.reencrypted += await this.#driver.run(
          `UPDATE ${this.#table} SET credentials = $2, credentials_key = $3 WHERE id = $1 AND credentials = $4`,
          [row.id, sealed, cipher.primary, row.credentials],
        )
      }
      if (rows.length < batchSize) return result
      after = (rows.at(-1) as { id: string }).id
    }
  }

  /** Releases the database. Every later call rejects. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#ready?.catch(() => {})
    await this.#driver.close()
  }

  async #seal(id: string, credentials: Credentials): Promise<[string, string]> {
    const plain: Credentials = {
      apiKey: credentials.apiKey,
      secret: credentials.secret,
      ...(credentials.password !== undefined && { password: credentials.password }),
      ...(credentials.uid !== undefined && { uid: credentials.uid }),
    }
    if (!this.#cipher) return [JSON.stringify(plain), PLAINTEXT_KEY]
    return [await this.#cipher.seal(id, plain), this.#cipher.primary]
  }

  #open(): Promise<void> {
    this.#assertOpen()
    if (!this.#ready) {
      const ready = this.migrate().then(() => {})
      this.#ready = ready
      // A failed migration is retried by the next call rather than cached.
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = null
      })
    }
    return this.#ready
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`${this.#owner} is closed`)
  }
}

function pickBalance(balance: Balance): Balance {
  return { asset: balance.asset, free: balance.free, used: balance.used, total: balance.total }
}

function toConnection(row: ConnectionRow): Connection {
  const errorAt = toNumber(row.last_error_at)
  return {
    id: row.id,
    userId: row.user_id,
    exchange: row.exchange,
    ...(row.label !== null && { label: row.label }),
    status: row.status,
    lastSyncAt: fromNever(row.sync_order),
    lastAttemptAt: toNumber(row.last_attempt_at),
    nextSyncAt: fromNever(row.due_at),
    failureCount: Number(row.failure_count),
    lastError:
      row.last_error_code === null
        ? null
        : { code: row.last_error_code, message: row.last_error_message ?? '', at: errorAt ?? 0 },
  }
}
