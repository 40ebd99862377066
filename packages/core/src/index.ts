export { compareDecimals, isDecimalString, sumDecimals } from './balances/decimal.js'
export type { CredentialCipher, CredentialCipherOptions } from './credentials/index.js'
export { CredentialsUnreadableError, createCredentialCipher, generateCredentialKey } from './credentials/index.js'
export { InvalidOptionError } from './errors/invalidOptionError.js'
export type { RateLimitScope, SyncErrorCode, SyncErrorOptions } from './errors/syncError.js'
export {
  isSyncError,
  PERMANENT_ERROR_CODES,
  SYNC_ERROR_CODES,
  SyncError,
  toSyncError,
} from './errors/syncError.js'
export type { SyncHandler } from './http/createSyncHandler.js'
export { createSyncHandler } from './http/createSyncHandler.js'
export type { ResolveUser, SyncHandlerOptions, SyncHandlerScheduler } from './http/options.js'
export type { BudgetLimiterOptions } from './limits/budgetLimiter.js'
export { BudgetLimiter } from './limits/budgetLimiter.js'
export type { ResolvedLimits } from './limits/exchangeLimits.js'
export { DEFAULT_LIMITS, FALLBACK_LIMITS, resolveLimits } from './limits/exchangeLimits.js'
export type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  LimitSettleResult,
  SyncLimiter,
} from './limits/syncLimiter.js'
export type { Clock, TimerHandle } from './scheduler/clock.js'
export { systemClock } from './scheduler/clock.js'
export type {
  ConnectionDisabledEvent,
  ExchangeSweepReport,
  RateLimitEvent,
  SchedulerHealth,
  SchedulerLogger,
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
