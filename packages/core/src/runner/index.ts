// `@syncfolio/core/runner`: the pieces adapters, stores and custom runners build on. Not part of the app-facing
// surface the docs describe; names here may change in a minor release of the core.
export { validateResult } from '../balances/validateResult.js'
export { parseOptions, withoutUndefined } from '../errors/parseOptions.js'
export { createNamedSyncHandler } from '../http/createSyncHandler.js'
export { draftConnection } from '../http/draftConnection.js'
export { AlignedWindow } from '../limits/alignedWindow.js'
export { BudgetLimiter } from '../limits/budgetLimiter.js'
export { SlidingWindow } from '../limits/slidingWindow.js'
export type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  LimitSettleResult,
  SyncLimiter,
} from '../limits/syncLimiter.js'
export { unlimited } from '../limits/syncLimiter.js'
export type { DispatcherOptions, DispatchJob, Lane } from '../scheduler/dispatcher.js'
export { Dispatcher } from '../scheduler/dispatcher.js'
export { EventBus } from '../scheduler/eventBus.js'
export type { LaneSnapshot } from '../scheduler/fairShare.js'
export { pickLane } from '../scheduler/fairShare.js'
export { Lifecycle } from '../scheduler/lifecycle.js'
export type { Scheduler } from '../scheduler/scheduler.js'
export { StoreCalls, StoreTimeoutError } from '../scheduler/storeCalls.js'
export type { Sweep, SweepReaderOptions } from '../scheduler/sweepReader.js'
export { SweepReader } from '../scheduler/sweepReader.js'
export type { SyncRunnerOptions, Trigger } from '../scheduler/syncRunner.js'
export { pausesExchange, SyncRunner, saneSyncError, settlementFor } from '../scheduler/syncRunner.js'
export { backoffDelay, nextPhaseAt } from '../scheduler/timing.js'
export { freshConnection } from '../store/freshConnection.js'
