import type { SyncError } from '../errors/syncError.js'
import type { Balance } from '../types.js'

export interface SyncEventBase {
  connectionId: string
  userId: string
  exchange: string
  /** `sweep` for the background schedule and `runOnce`, `manual` for `syncNow`. */
  trigger: 'sweep' | 'manual'
  /** Which process ran the sync, when the scheduler spans several (`BullmqScheduler`'s `workerId`). */
  worker?: string
}

export interface SyncStartEvent extends SyncEventBase {
  startedAt: number
  /** When the connection last synced (null: never), so `startedAt - lastSyncAt` is how stale it had become. */
  lastSyncAt: number | null
}

export interface SyncSuccessEvent extends SyncEventBase {
  balances: Balance[]
  startedAt: number
  finishedAt: number
  nextSyncAt: number
}

export interface SyncFailureEvent extends SyncEventBase {
  error: SyncError
  startedAt: number
  finishedAt: number
  /** Null when nothing was recorded (the sync was cancelled by `stop`). */
  nextSyncAt: number | null
  disabled: boolean
}

export interface ConnectionDisabledEvent {
  connectionId: string
  userId: string
  exchange: string
  error: SyncError
}

export interface SweepReport {
  /** Syncs the sweep started (a connection already syncing is joined by neither side, and not counted). */
  attempted: number
  succeeded: number
  failed: number
  startedAt: number
  finishedAt: number
}

/**
 * One exchange's sweep, as `sweep:end` reports it. `BullmqScheduler` reports its due-scans this way: `attempted` is
 * the number of due connections the scan queued (one already queued or running counts, and keeps its one job), and
 * `succeeded` and `failed` are always 0, since each of those syncs reports itself later, on whichever worker runs it.
 */
export interface ExchangeSweepReport extends SweepReport {
  exchange: string
}

export interface RateLimitEvent {
  exchange: string
  scope: 'exchange' | 'account'
  /** The budget key: the exchange id, or the connection id for account scope. */
  key: string
  waitMs: number
  reason: 'budget' | 'retry-after'
}

export interface WarningEvent {
  /**
   * `DEFAULT_LIMITS`: an exchange runs on the conservative fallback budget; set `limits[exchange]`.
   * `UNSUPPORTED_EXCHANGE`: stored connections name an exchange no adapter syncs; add its adapter.
   * `EXCHANGE_PAUSED`: the exchange refused this server for every key (its IP, its location); all its connections
   * wait, none is disabled.
   */
  code: 'DEFAULT_LIMITS' | 'UNSUPPORTED_EXCHANGE' | 'EXCHANGE_PAUSED'
  exchange: string
  message: string
}

/** What `scheduler.health()` and `GET /health` answer: no user data. */
export interface SchedulerHealth {
  /** False while the store's last call failed, or when a started scheduler finished no sweep in two intervals. */
  ok: boolean
  exchanges: Record<
    string,
    {
      /** End of the exchange's last finished sweep (a `runOnce` counts), epoch ms; null before the first. */
      lastSweepAt: number | null
      pausedUntil: number | null
      budgetLeft: number | null
      inFlight: number
      queued: number
    }
  >
  store: {
    ok: boolean
    /** The last failed store call, scrubbed (no connection string); null once a call succeeds again. */
    lastError: { message: string; at: number } | null
  }
}

/** Where the scheduler writes what it has to say; pino, Nest's Logger and `console` fit. */
export interface SchedulerLogger {
  debug(message: string, ...details: unknown[]): void
  info(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
  error(message: string, ...details: unknown[]): void
}

/** Listener signatures, for `scheduler.on(name, listener)`. */
export interface SyncSchedulerEvents {
  'sync:start': (event: SyncStartEvent) => void
  'sync:success': (event: SyncSuccessEvent) => void
  'sync:failure': (event: SyncFailureEvent) => void
  /** After each exchange's sweep: exchanges sweep on their own, so one slowed by its budget delays no other. */
  'sweep:end': (report: ExchangeSweepReport) => void
  ratelimit: (event: RateLimitEvent) => void
  'connection:disabled': (event: ConnectionDisabledEvent) => void
  /** Something the host should fix in its configuration; emitted once. */
  warning: (event: WarningEvent) => void
  /** A store failure or a throwing listener. Never thrown; the scheduler keeps going. */
  error: (error: Error) => void
}

/** How one sync ended. `syncNow` resolves to it; it never rejects for a failed sync. */
export type SyncOutcome =
  | { ok: true; connectionId: string; balances: Balance[] }
  | { ok: false; connectionId: string; error: SyncError }

/** What `SyncScheduler.verifyCredentials` resolves to. */
export type VerifyCredentialsResult = { ok: true; balances: Balance[] } | { ok: false; error: SyncError }
