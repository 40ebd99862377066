export { nestSchedulerLogger } from './nestSchedulerLogger.js'
export type {
  SyncfolioBuiltSchedulerOptions,
  SyncfolioGivenSchedulerOptions,
  SyncfolioHttpOptions,
  SyncfolioModuleAsyncOptions,
  SyncfolioModuleOptions,
  SyncfolioOwnRuntimeOptions,
  SyncfolioRole,
  SyncfolioRuntimeOptions,
  SyncfolioStaticOptions,
} from './options.js'
export type { SyncfolioHealthResult } from './syncfolioHealthIndicator.js'
export { SyncfolioHealthCheckError, SyncfolioHealthIndicator } from './syncfolioHealthIndicator.js'
export { SyncfolioModule } from './syncfolioModule.js'
export { InjectScheduler, InjectStore, SYNCFOLIO_SCHEDULER, SYNCFOLIO_STORE } from './tokens.js'
