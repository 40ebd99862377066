import type { LoggerService } from '@nestjs/common'
import type { SchedulerLogger } from '@syncfolio/core'

/**
 * The scheduler's logger over a Nest logger: `info` is Nest's `log` (Nest's Logger has no `info`, so it cannot be
 * passed as it is). `SyncfolioModule` uses it by default; use it for a scheduler built outside the module:
 * `new BullmqScheduler({ ..., logger: nestSchedulerLogger(new Logger('Syncfolio')) })`. Only the message is passed on: Nest's console
 * logger prints every further argument as a line of its own, and each message already says all it means.
 */
export function nestSchedulerLogger(logger: LoggerService): SchedulerLogger {
  return {
    debug: (message) => logger.debug?.(message),
    info: (message) => logger.log(message),
    warn: (message) => logger.warn(message),
    error: (message) => logger.error(message),
  }
}
