import { Inject, Injectable } from '@nestjs/common'
import { InvalidOptionError, type Scheduler, type SchedulerHealth } from '@syncfolio/core'
import { SYNCFOLIO_SCHEDULER } from './tokens.js'

/** What `isHealthy` answers for one key: terminus's `HealthIndicatorResult` with the scheduler's health inside. */
export type SyncfolioHealthResult<K extends string = string> = Record<K, { status: 'up' | 'down' } & SchedulerHealth>

/**
 * Thrown by `isHealthy` when the scheduler is not healthy, in the shape `@nestjs/terminus` recognises for a failed
 * indicator (`isHealthCheckError`, `causes`), so `HealthCheckService.check()` reports it as down and answers 503.
 */
export class SyncfolioHealthCheckError extends Error {
  override readonly name = 'SyncfolioHealthCheckError'
  /** How terminus tells an expected failure from a crash. */
  readonly isHealthCheckError = true
  /** The indicator's result, `status: 'down'`: what terminus puts under `error` and `details`. */
  readonly causes: SyncfolioHealthResult

  constructor(message: string, causes: SyncfolioHealthResult) {
    super(message)
    this.causes = causes
  }
}

/**
 * A health indicator for `@nestjs/terminus`, with no import of terminus: it answers in terminus's shapes, so
 * nobody installs terminus to use the module and a host that has it plugs this in directly.
 *
 * ```ts
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.syncfolio.isHealthy()])
 * }
 * ```
 */
export class SyncfolioHealthIndicator {
  readonly #scheduler: Scheduler

  constructor(scheduler: Scheduler) {
    this.#scheduler = scheduler
  }

  /**
   * `{ [key]: { status: 'up', ...scheduler.health() } }` when the scheduler is healthy; throws a
   * `SyncfolioHealthCheckError` carrying `{ [key]: { status: 'down', ... } }` when it is not (the store's last call
   * failed, or no sweep finished within two intervals).
   */
  async isHealthy<K extends string = 'syncfolio'>(key: K = 'syncfolio' as K): Promise<SyncfolioHealthResult<K>> {
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidOptionError('SyncfolioHealthIndicator.isHealthy', 'key', 'expected a non-empty string', key)
    }
    const health = this.#scheduler.health()
    const result = { [key]: { status: health.ok ? 'up' : 'down', ...health } } as SyncfolioHealthResult<K>
    if (health.ok) return result
    const why = health.store.ok ? 'no sweep finished within two intervals' : 'the store is failing'
    throw new SyncfolioHealthCheckError(`syncfolio is not healthy: ${why}`, result)
  }
}

// Decorators as calls, for the reason given in createSyncfolioController.ts.
Injectable()(SyncfolioHealthIndicator)
Inject(SYNCFOLIO_SCHEDULER)(SyncfolioHealthIndicator, undefined, 0)
