export { compareDecimals, isDecimalString, sumDecimals } from './balances/decimal.js'
export { validateResult } from './balances/validateResult.js'
export type { CredentialCipher, CredentialCipherOptions } from './credentials/index.js'
export { CredentialsUnreadableError, createCredentialCipher, generateCredentialKey } from './credentials/index.js'
export { InvalidOptionError } from './errors/invalidOptionError.js'
export { parseOptions, withoutUndefined } from './errors/parseOptions.js'
export type { RateLimitScope, SyncErrorCode, SyncErrorOptions } from './errors/syncError.js'
export {
  isSyncError,
  PERMANENT_ERROR_CODES,
  SYNC_ERROR_CODES,
  SyncError,
  toSyncError,
} from './errors/syncError.js'
export * from './http/index.js'
export * from './limits/index.js'
export type { Clock, TimerHandle } from './scheduler/clock.js'
export { systemClock } from './scheduler/clock.js'
export type {
  ConnectionDisabledEvent,
  RateLimitEvent,
  SweepReport,
  SyncEventBase,
  SyncFailureEvent,
  SyncOutcome,
  SyncSchedulerEvents,
  SyncStartEvent,
  SyncSuccessEvent,
  VerifyCredentialsResult,
  WarningEvent,
} from './scheduler/events.js'
export type { Budget, ExchangeLimits, SyncSchedulerOptions } from './scheduler/options.js'
export type { Scheduler } from './scheduler/scheduler.js'
export type { SchedulerStats } from './scheduler/syncScheduler.js'
export { SyncScheduler } from './scheduler/syncScheduler.js'
export { freshConnection } from './store/freshConnection.js'
export { MemoryStore } from './store/memoryStore.js'
export type {
  DueCursor,
  FailureRecord,
  ListDueOptions,
  NewConnection,
  SuccessRecord,
  SyncStore,
} from './store/syncStore.js'
export type {
  Balance,
  Connection,
  ConnectionStatus,
  Credentials,
  ExchangeAdapter,
  FetchBalancesRequest,
  FetchBalancesResult,
  StoredError,
} from './types.js'
