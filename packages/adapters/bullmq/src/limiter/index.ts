export type { RedisLimiterOptions } from './redisLimiter.js'
export { RedisLimiter } from './redisLimiter.js'
export type { RedisLimiterErrorCode } from './redisLimiterError.js'
export { RedisLimiterError } from './redisLimiterError.js'
