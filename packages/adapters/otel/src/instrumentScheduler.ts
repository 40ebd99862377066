import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api'
import {
  type ConnectionDisabledEvent,
  InvalidOptionError,
  type RateLimitEvent,
  type Scheduler,
  type SyncFailureEvent,
  type SyncStartEvent,
  type SyncSuccessEvent,
} from '@syncfolio/core'
import { parseOptions } from '@syncfolio/core/runner'
import { z } from 'zod'

export interface InstrumentSchedulerOptions {
  /**
   * Where the instruments are created: `metrics.getMeter('syncfolio')` from `@opentelemetry/api`, or a meter of
   * your own `MeterProvider`. The host brings the SDK and the exporter (Prometheus, OTLP).
   */
  meter: Meter
}

/** Stops recording: removes every listener from the scheduler and the gauge's callback. Idempotent. */
export type DisposeInstrumentation = () => void

/** Bucket boundaries, in seconds, for what each histogram usually holds (OpenTelemetry's defaults are for ms). */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const AGE_BUCKETS = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 86_400]
const WAIT_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400]

const SCHEDULER_METHODS = ['on', 'off', 'stats'] as const
const METER_METHODS = ['createHistogram', 'createCounter', 'createObservableGauge'] as const

const optionsSchema = z.strictObject({
  meter: z.custom<Meter>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      METER_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'),
    `expected an OpenTelemetry Meter (with ${METER_METHODS.join(', ')})`,
  ),
})

/**
 * Records the scheduler's work as OpenTelemetry metrics, from its events and `stats()`; takes any `Scheduler`
 * (one process or a cluster). Durations and ages are in seconds. No attribute ever holds a connection or user id,
 * so series stay few: one per exchange (and trigger, outcome, scope, reason).
 *
 * - `syncfolio.sync.duration` (histogram, s): `syncfolio.exchange`, `syncfolio.trigger`, `syncfolio.outcome`
 *   (`ok` or the SyncError code); a `CANCELLED` sync (stopped by `stop()`) is not recorded.
 * - `syncfolio.connection.age` (histogram, s): `startedAt - lastSyncAt` of each sweep sync of a connection that
 *   synced before, per `syncfolio.exchange`: how stale portfolios get before the sweep reaches them.
 * - `syncfolio.ratelimit.wait` (histogram, s): each `ratelimit` event's wait, with `syncfolio.exchange`,
 *   `syncfolio.scope` and `syncfolio.reason`.
 * - `syncfolio.budget.remaining` (observable gauge): weight left in the tightest exchange-wide budget, per
 *   `syncfolio.exchange` that has one.
 * - `syncfolio.connections.disabled` (counter): connections disabled for bad keys, per `syncfolio.exchange`.
 */
export function instrumentScheduler(scheduler: Scheduler, options: InstrumentSchedulerOptions): DisposeInstrumentation {
  if (
    typeof scheduler !== 'object' ||
    scheduler === null ||
    !SCHEDULER_METHODS.every(
      (method) => typeof (scheduler as unknown as Record<string, unknown>)[method] === 'function',
    )
  ) {
    const problem = `expected a Scheduler (with ${SCHEDULER_METHODS.join(', ')})`
    throw new InvalidOptionError('instrumentScheduler', 'scheduler', problem, scheduler)
  }
  const { meter } = parseOptions('instrumentScheduler', optionsSchema, options)

  const duration = meter.createHistogram('syncfolio.sync.duration', {
    description: 'How long each sync took, from its start to its result being recorded.',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  })
  const age = meter.createHistogram('syncfolio.connection.age', {
    description: 'How long since a connection last synced, when a sweep starts syncing it again.',
    unit: 's',
    advice: { explicitBucketBoundaries: AGE_BUCKETS },
  })
  const wait = meter.createHistogram('syncfolio.ratelimit.wait', {
    description: 'How long a rate limit made the exchange or an account wait.',
    unit: 's',
    advice: { explicitBucketBoundaries: WAIT_BUCKETS },
  })
  const disabled = meter.createCounter('syncfolio.connections.disabled', {
    description: 'Connections disabled because their keys no longer work.',
    unit: '{connection}',
  })
  const budget = meter.createObservableGauge('syncfolio.budget.remaining', {
    description: 'Weight left now in the tightest exchange-wide rate-limit budget.',
    unit: '{weight}',
  })

  // One attribute object per combination, built once: a sync then records without allocating.
  const attributes = new AttributeCache()

  const onStart = (event: SyncStartEvent) => {
    if (event.trigger !== 'sweep' || event.lastSyncAt === null) return
    age.record((event.startedAt - event.lastSyncAt) / 1000, attributes.exchange(event.exchange))
  }
  const onSuccess = (event: SyncSuccessEvent) => {
    duration.record(
      (event.finishedAt - event.startedAt) / 1000,
      attributes.outcome(event.exchange, event.trigger, 'ok'),
    )
  }
  const onFailure = (event: SyncFailureEvent) => {
    if (event.error.code === 'CANCELLED') return
    duration.record(
      (event.finishedAt - event.startedAt) / 1000,
      attributes.outcome(event.exchange, event.trigger, event.error.code),
    )
  }
  const onRateLimit = (event: RateLimitEvent) => {
    wait.record(event.waitMs / 1000, attributes.wait(event.exchange, event.scope, event.reason))
  }
  const onDisabled = (event: ConnectionDisabledEvent) => {
    disabled.add(1, attributes.exchange(event.exchange))
  }
  const observeBudget = (result: ObservableResult) => {
    for (const [exchange, stats] of Object.entries(scheduler.stats().exchanges)) {
      if (stats.budgetLeft !== null) result.observe(stats.budgetLeft, attributes.exchange(exchange))
    }
  }

  scheduler.on('sync:start', onStart)
  scheduler.on('sync:success', onSuccess)
  scheduler.on('sync:failure', onFailure)
  scheduler.on('ratelimit', onRateLimit)
  scheduler.on('connection:disabled', onDisabled)
  budget.addCallback(observeBudget)

  let disposed = false
  return () => {
    if (disposed) return
    disposed = true
    scheduler.off('sync:start', onStart)
    scheduler.off('sync:success', onSuccess)
    scheduler.off('sync:failure', onFailure)
    scheduler.off('ratelimit', onRateLimit)
    scheduler.off('connection:disabled', onDisabled)
    budget.removeCallback(observeBudget)
  }
}

/**
 * Attribute sets by their values, in nested maps so a lookup builds no key string. Only exchange ids and fixed
 * enums go in, so the cache stays small.
 */
class AttributeCache {
  readonly #exchanges = new Map<string, Attributes>()
  readonly #outcomes = new Map<string, Map<string, Map<string, Attributes>>>()
  readonly #waits = new Map<string, Map<string, Map<string, Attributes>>>()

  exchange(exchange: string): Attributes {
    let set = this.#exchanges.get(exchange)
    if (!set) {
      set = Object.freeze({ 'syncfolio.exchange': exchange })
      this.#exchanges.set(exchange, set)
    }
    return set
  }

  outcome(exchange: string, trigger: string, outcome: string): Attributes {
    return lookup(this.#outcomes, exchange, trigger, outcome, () => ({
      'syncfolio.exchange': exchange,
      'syncfolio.trigger': trigger,
      'syncfolio.outcome': outcome,
    }))
  }

  wait(exchange: string, scope: string, reason: string): Attributes {
    return lookup(this.#waits, exchange, scope, reason, () => ({
      'syncfolio.exchange': exchange,
      'syncfolio.scope': scope,
      'syncfolio.reason': reason,
    }))
  }
}

function lookup(
  root: Map<string, Map<string, Map<string, Attributes>>>,
  a: string,
  b: string,
  c: string,
  build: () => Attributes,
): Attributes {
  let level = root.get(a)
  if (!level) {
    level = new Map()
    root.set(a, level)
  }
  let leaf = level.get(b)
  if (!leaf) {
    leaf = new Map()
    level.set(b, leaf)
  }
  let set = leaf.get(c)
  if (!set) {
    set = Object.freeze(build())
    leaf.set(c, set)
  }
  return set
}
