/** One asset's balance, amounts as decimal strings exactly as the exchange sent them (never floats). */
export interface Balance {
  asset: string
  free: string
  used: string
  total: string
}

/**
 * API credentials of one exchange account. Field names follow ccxt: `password` is OKX's passphrase.
 * Credentials live only in the store and in the adapter call; no event, outcome or error ever carries them.
 */
export interface Credentials {
  apiKey: string
  secret: string
  password?: string
  uid?: string
}

export type ConnectionStatus = 'active' | 'paused' | 'error'

export interface StoredError {
  code: string
  message: string
  /** Epoch ms. */
  at: number
}

/** A user's connection to one exchange account, with its sync status. Never holds credentials. */
export interface Connection {
  id: string
  userId: string
  /** The id of the ExchangeAdapter that syncs it, e.g. `binance`. */
  exchange: string
  label?: string
  status: ConnectionStatus
  /** Start of the last successful sync (the balances are at least this fresh), epoch ms. */
  lastSyncAt: number | null
  /** Start of the last recorded attempt, successful or not, epoch ms. */
  lastAttemptAt: number | null
  /** When the next sync is due, epoch ms; null means due now. */
  nextSyncAt: number | null
  /** Failures since the last success. */
  failureCount: number
  lastError: StoredError | null
}

export interface FetchBalancesRequest {
  /** The connection being synced (a snapshot; do not mutate). */
  connection: Connection
  credentials: Credentials
  /** Aborted when the sync passes `timeoutMs` or the scheduler stops. */
  signal: AbortSignal
}

export interface FetchBalancesResult {
  balances: Balance[]
  /** What the exchange reported of its own rate-limit count, used to re-align the local budget. */
  usage?: { usedWeight?: number }
  /**
   * The exchange's own id of the account these keys belong to (OKX: the user's `uid`). Connections that report
   * the same account share one account-scope budget, as the exchange counts it per user, not per key.
   */
  accountId?: string
}

/** Fetches one account's balances from one exchange. Throw a SyncError to say what went wrong. */
export interface ExchangeAdapter {
  /** Key for `limits` and `Connection.exchange`, e.g. `binance`. */
  readonly id: string
  fetchBalances(request: FetchBalancesRequest): Promise<FetchBalancesResult>
}
