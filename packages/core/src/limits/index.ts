export type { BudgetLimiterOptions } from './budgetLimiter.js'
export { BudgetLimiter } from './budgetLimiter.js'
export type { ResolvedLimits } from './exchangeLimits.js'
export { DEFAULT_LIMITS, FALLBACK_LIMITS, resolveLimits } from './exchangeLimits.js'
export type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  LimitSettleResult,
  SyncLimiter,
} from './syncLimiter.js'
export { unlimited } from './syncLimiter.js'
