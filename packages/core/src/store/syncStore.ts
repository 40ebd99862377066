import type { Balance, Connection, Credentials } from '../types.js'

/** Keyset cursor for `listDue`: the `(lastSyncAt, id)` of the last connection of the previous page. */
export interface DueCursor {
  lastSyncAt: number | null
  id: string
}

export interface ListDueOptions {
  /** Only connections of this exchange. */
  exchange?: string
  /** Only connections ordered after this one: pass the last connection of the previous page. */
  after?: DueCursor
}

export interface NewConnection {
  userId: string
  exchange: string
  label?: string
  credentials: Credentials
}

export interface SuccessRecord {
  balances: Balance[]
  startedAt: number
  finishedAt: number
  nextSyncAt: number
}

export interface FailureRecord {
  error: { code: string; message: string }
  startedAt: number
  finishedAt: number
  nextSyncAt: number
  /** Set the connection to `error`: it leaves the schedule until `updateCredentials`. */
  disable: boolean
}

/**
 * Where connections, credentials and balances live. Every method may be called concurrently; each must be atomic
 * for one connection. `@syncfolio/testing` exports a conformance suite that every implementation should pass.
 */
export interface SyncStore {
  /**
   * Active connections whose `nextSyncAt` is null or <= `now`, ordered by `lastSyncAt` (null first, oldest next),
   * then `id`; at most `limit` of them, after `options.after` when given (keyset paging).
   */
  listDue(now: number, limit: number, options?: ListDueOptions): Promise<Connection[]>
  get(id: string): Promise<Connection | null>
  /** The only way credentials leave the store. */
  getCredentials(id: string): Promise<Credentials | null>
  /**
   * Stores fresh balances. Forward-only: a result whose `startedAt` is older than the stored `lastSyncAt` is
   * dropped, so a slow old response never overwrites a newer one. Resolves to whether it was recorded.
   */
  recordSuccess(id: string, record: SuccessRecord): Promise<boolean>
  /** Records a failed attempt. A failure older than the last recorded attempt is dropped. */
  recordFailure(id: string, record: FailureRecord): Promise<boolean>
  /** The user's connections, oldest first. */
  listByUser(userId: string): Promise<Connection[]>
  /** The last synced balances, empty before the first sync, null for an unknown connection. */
  getBalances(id: string): Promise<Balance[] | null>
  /** Adds an active connection, due now. */
  add(connection: NewConnection): Promise<Connection>
  /** New keys: the connection is active again, with its failures cleared, and due now. */
  updateCredentials(id: string, credentials: Credentials): Promise<Connection | null>
  /** Removes the connection with its credentials and balances. Resolves to whether it existed. */
  remove(id: string): Promise<boolean>
}
