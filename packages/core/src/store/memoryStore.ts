import { randomUUID } from 'node:crypto'
import type { Balance, Connection, Credentials } from '../types.js'
import { freshConnection } from './freshConnection.js'
import { SortedList } from './sortedList.js'
import type { DueCursor, FailureRecord, ListDueOptions, NewConnection, SuccessRecord, SyncStore } from './syncStore.js'

interface Entry {
  connection: Connection
  credentials: Credentials
  balances: Balance[]
  /** Insertion order, for listByUser. */
  seq: number
}

type Key = DueCursor

function compareKeys(a: Key, b: Key): number {
  if (a.lastSyncAt !== b.lastSyncAt) {
    if (a.lastSyncAt === null) return -1
    if (b.lastSyncAt === null) return 1
    return a.lastSyncAt - b.lastSyncAt
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

const keyOf = (connection: Connection): Key => ({ lastSyncAt: connection.lastSyncAt, id: connection.id })

/** Position in the due-time index: when the connection is next due (null: now), then id. */
interface DueKey {
  at: number
  id: string
}

function compareDueKeys(a: DueKey, b: DueKey): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

const dueKeyOf = (connection: Connection): DueKey => ({
  at: connection.nextSyncAt ?? Number.NEGATIVE_INFINITY,
  id: connection.id,
})

/** Refuses a time that is not a finite number before anything is stored: NaN would corrupt both indexes. */
function assertTimes(method: string, record: object, fields: readonly string[]): void {
  for (const field of fields) {
    const value = (record as Record<string, unknown>)[field]
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(
        `MemoryStore.${method}: "${field}" must be a finite number of epoch ms; received ${String(value)}`,
      )
    }
  }
}

const RECORD_TIMES = ['startedAt', 'finishedAt', 'nextSyncAt'] as const

function copyConnection(connection: Connection): Connection {
  return { ...connection, lastError: connection.lastError && { ...connection.lastError } }
}

/**
 * The default SyncStore: everything in memory, gone on restart. Per exchange it keeps two ordered indexes, by
 * `lastSyncAt` (the order `listDue` answers in) and by `nextSyncAt` (which ones are due), so a page costs about the
 * number of due connections, not the size of the store. It hands out copies so callers cannot mutate stored state.
 */
export class MemoryStore implements SyncStore {
  readonly #entries = new Map<string, Entry>()
  readonly #byUser = new Map<string, Set<string>>()
  readonly #bySyncAt = new Map<string, SortedList<Key>>()
  readonly #byDueAt = new Map<string, SortedList<DueKey>>()
  #seq = 0

  async listDue(now: number, limit: number, options: ListDueOptions = {}): Promise<Connection[]> {
    assertTimes('listDue', { now }, ['now'])
    const exchanges = options.exchange === undefined ? [...this.#bySyncAt.keys()] : [options.exchange]
    const page: Connection[] = []
    for (const exchange of exchanges) page.push(...this.#dueOf(exchange, now, limit, options.after))
    if (exchanges.length > 1) page.sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
    return page.length > limit ? page.slice(0, limit) : page
  }

  /**
   * One exchange's page. When few connections are due (the steady state: each comes due at its own moment), they
   * are read off the due-time index and sorted; when many are (a first sweep, an outage), the `lastSyncAt` index is
   * walked, where due connections are dense.
   */
  #dueOf(exchange: string, now: number, limit: number, after: Key | undefined): Connection[] {
    const bySyncAt = this.#bySyncAt.get(exchange)
    const byDueAt = this.#byDueAt.get(exchange)
    if (!bySyncAt || !byDueAt) return []
    const few = limit * 16
    const boundary = byDueAt.at(few)
    if (boundary === undefined || boundary.at > now) {
      const due: Connection[] = []
      for (const key of byDueAt.valuesAfter()) {
        if (key.at > now) break
        const connection = (this.#entries.get(key.id) as Entry).connection
        if (connection.status === 'active' && (after === undefined || compareKeys(keyOf(connection), after) > 0)) {
          due.push(connection)
        }
      }
      due.sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
      return due.slice(0, limit).map(copyConnection)
    }
    const page: Connection[] = []
    for (const key of bySyncAt.valuesAfter(after)) {
      if (page.length >= limit) break
      const connection = (this.#entries.get(key.id) as Entry).connection
      if (connection.status !== 'active') continue
      if (connection.nextSyncAt !== null && connection.nextSyncAt > now) continue
      page.push(copyConnection(connection))
    }
    return page
  }

  async get(id: string): Promise<Connection | null> {
    const entry = this.#entries.get(id)
    return entry ? copyConnection(entry.connection) : null
  }

  async getCredentials(id: string): Promise<Credentials | null> {
    const entry = this.#entries.get(id)
    return entry ? { ...entry.credentials } : null
  }

  async recordSuccess(id: string, record: SuccessRecord): Promise<boolean> {
    assertTimes('recordSuccess', record, RECORD_TIMES)
    const entry = this.#entries.get(id)
    if (!entry) return false
    const current = entry.connection
    if (current.lastSyncAt !== null && record.startedAt < current.lastSyncAt) return false
    const latestAttempt = current.lastAttemptAt === null || record.startedAt >= current.lastAttemptAt
    this.#update(entry, {
      lastSyncAt: record.startedAt,
      ...(latestAttempt && {
        lastAttemptAt: record.startedAt,
        nextSyncAt: record.nextSyncAt,
        failureCount: 0,
        lastError: null,
      }),
    })
    entry.balances = record.balances.map((balance) => ({ ...balance }))
    return true
  }

  async recordFailure(id: string, record: FailureRecord): Promise<boolean> {
    assertTimes('recordFailure', record, RECORD_TIMES)
    const entry = this.#entries.get(id)
    if (!entry) return false
    const current = entry.connection
    if (current.lastAttemptAt !== null && record.startedAt < current.lastAttemptAt) return false
    this.#update(entry, {
      lastAttemptAt: record.startedAt,
      nextSyncAt: record.nextSyncAt,
      failureCount: current.failureCount + 1,
      lastError: { code: record.error.code, message: record.error.message, at: record.finishedAt },
      ...(record.disable && { status: 'error' as const }),
    })
    return true
  }

  async listByUser(userId: string): Promise<Connection[]> {
    const ids = this.#byUser.get(userId)
    if (!ids) return []
    return [...ids]
      .map((id) => this.#entries.get(id) as Entry)
      .sort((a, b) => a.seq - b.seq)
      .map((entry) => copyConnection(entry.connection))
  }

  async getBalances(id: string): Promise<Balance[] | null> {
    const entry = this.#entries.get(id)
    return entry ? entry.balances.map((balance) => ({ ...balance })) : null
  }

  async add(input: NewConnection): Promise<Connection> {
    const connection = freshConnection(randomUUID(), input)
    this.#entries.set(connection.id, {
      connection,
      credentials: { ...input.credentials },
      balances: [],
      seq: this.#seq++,
    })
    let ids = this.#byUser.get(connection.userId)
    if (!ids) this.#byUser.set(connection.userId, (ids = new Set()))
    ids.add(connection.id)
    this.#index(this.#bySyncAt, connection.exchange, compareKeys).insert(keyOf(connection))
    this.#index(this.#byDueAt, connection.exchange, compareDueKeys).insert(dueKeyOf(connection))
    return copyConnection(connection)
  }

  async updateCredentials(id: string, credentials: Credentials): Promise<Connection | null> {
    const entry = this.#entries.get(id)
    if (!entry) return null
    entry.credentials = { ...credentials }
    this.#update(entry, { status: 'active', nextSyncAt: null, failureCount: 0, lastError: null })
    return copyConnection(entry.connection)
  }

  async remove(id: string): Promise<boolean> {
    const entry = this.#entries.get(id)
    if (!entry) return false
    this.#entries.delete(id)
    this.#index(this.#bySyncAt, entry.connection.exchange, compareKeys).delete(keyOf(entry.connection))
    this.#index(this.#byDueAt, entry.connection.exchange, compareDueKeys).delete(dueKeyOf(entry.connection))
    const ids = this.#byUser.get(entry.connection.userId)
    ids?.delete(id)
    if (ids?.size === 0) this.#byUser.delete(entry.connection.userId)
    return true
  }

  #update(entry: Entry, changes: Partial<Connection>): void {
    const before = entry.connection
    const after = { ...before, ...changes }
    if (after.lastSyncAt !== before.lastSyncAt) {
      const index = this.#index(this.#bySyncAt, before.exchange, compareKeys)
      index.delete(keyOf(before))
      index.insert(keyOf(after))
    }
    if (after.nextSyncAt !== before.nextSyncAt) {
      const index = this.#index(this.#byDueAt, before.exchange, compareDueKeys)
      index.delete(dueKeyOf(before))
      index.insert(dueKeyOf(after))
    }
    entry.connection = after
  }

  #index<K>(indexes: Map<string, SortedList<K>>, exchange: string, compare: (a: K, b: K) => number): SortedList<K> {
    let index = indexes.get(exchange)
    if (!index) indexes.set(exchange, (index = new SortedList(compare)))
    return index
  }
}
