import type { Connection, Credentials } from '../types.js'
import type { SchedulerHealth, SyncOutcome, SyncSchedulerEvents, VerifyCredentialsResult } from './events.js'
import type { SchedulerStats } from './syncScheduler.js'

/**
 * What the HTTP handler, Express and Nest need of a scheduler. `SyncScheduler` (one process) and
 * `BullmqScheduler` (a cluster) both implement it, so every binding takes either.
 */
export interface Scheduler {
  /** The ids of the exchanges this scheduler syncs (one per adapter). */
  readonly exchanges: string[]
  /** Starts background syncing; idempotent. */
  start(): void
  /** Stops scheduling, waits for syncs in flight, aborts what still runs after `timeoutMs`. */
  stop(options?: { timeoutMs?: number }): Promise<void>
  /** Syncs one connection now (joining one in flight); resolves to the outcome, rejects only for an unknown id. */
  syncNow(connectionId: string): Promise<SyncOutcome>
  /** Test-fetches keys that are not stored yet, inside the exchange's caps and budget. Never rejects. */
  verifyCredentials(
    request: { connection: Connection; credentials: Credentials },
    options?: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<VerifyCredentialsResult>
  /** The user is looking now: their connections go first for a while. */
  markActive(userId: string): void
  on<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this
  once<E extends keyof SyncSchedulerEvents>(event: E, listener: SyncSchedulerEvents[E]): this
  off<E extends keyof SyncSchedulerEvents>(event: E, listener?: SyncSchedulerEvents[E]): this
  /** In flight, queued, and per exchange: budget left, paused until. */
  stats(): SchedulerStats
  /** For a health probe: sweeps, pauses, budgets, queues and the store's last failure; no user data. */
  health(): SchedulerHealth
}
