export type {
  ExchangeLimitStats,
  LimitDecision,
  LimitPermit,
  LimitRequest,
  LimitSettlement,
  SyncLimiter,
} from './syncLimiter.js'
export { unlimited } from './syncLimiter.js'
