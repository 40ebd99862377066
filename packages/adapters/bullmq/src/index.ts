export { BullmqScheduler } from './bullmqScheduler.js'
export type { RedisLimiterErrorCode, RedisLimiterOptions } from './limiter/index.js'
export { RedisLimiter, RedisLimiterError } from './limiter/index.js'
export type { BullmqRole, BullmqSchedulerOptions } from './options.js'
