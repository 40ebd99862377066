/** Why the RedisLimiter could not ask Redis; it refused or paused locally instead (see `RedisLimiter`). */
export type RedisLimiterErrorCode = 'REDIS_FAILED' | 'REDIS_TIMEOUT' | 'INVALID_REPLY' | 'INVALID_REQUEST'

/** A failure of the RedisLimiter, handed to its `onError`; the dispatcher never sees it thrown. */
export class RedisLimiterError extends Error {
  override readonly name = 'RedisLimiterError'
  readonly code: RedisLimiterErrorCode

  constructor(code: RedisLimiterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}
