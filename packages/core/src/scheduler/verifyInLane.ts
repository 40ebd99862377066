import { SyncError } from '../errors/syncError.js'
import type { LimitPermit } from '../limits/syncLimiter.js'
import type { Connection, Credentials, ExchangeAdapter } from '../types.js'
import type { Clock } from './clock.js'
import { type Dispatcher, dispatchJob } from './dispatcher.js'
import type { VerifyCredentialsResult } from './events.js'
import type { SyncRunner } from './syncRunner.js'

/** What a scheduler lends `verifyInLane`: its dispatcher, its runner and its clock. */
export interface VerifyParts {
  dispatcher: Dispatcher
  runner: SyncRunner
  clock: Clock
}

/**
 * Test-fetches keys that are not stored (yet), as a sync would: an urgent job in the exchange's lane, so the global
 * and per-exchange caps and the budget apply; aborted at `timeoutMs` or when `signal` aborts; refused at once with
 * `RATE_LIMITED` when the exchange is paused past the deadline. Records nothing; never rejects. `SyncScheduler` and
 * `BullmqScheduler` both verify through it.
 */
export function verifyInLane(
  { dispatcher, runner, clock }: VerifyParts,
  adapter: ExchangeAdapter | undefined,
  { connection, credentials }: { connection: Connection; credentials: Credentials },
  { signal, timeoutMs }: { signal?: AbortSignal | undefined; timeoutMs: number },
): Promise<VerifyCredentialsResult> {
  const lane = dispatcher.lane(connection.exchange)
  if (!adapter || !lane) return Promise.resolve({ ok: false, error: unsupportedExchange(connection.exchange) })
  if (signal?.aborted) return Promise.resolve({ ok: false, error: callerWentAway() })
  const now = clock.now()
  const deadline = now + timeoutMs
  if (lane.blockedUntil > deadline) {
    return Promise.resolve({ ok: false, error: exchangePaused(lane.exchange, lane.blockedUntil - now) })
  }
  return new Promise<VerifyCredentialsResult>((resolve) => {
    const onAbort = () => dispatcher.drop(callerWentAway(), (queued) => queued === job, [lane])
    const job = dispatchJob(connection, undefined, deadline, {
      start: async (permit: LimitPermit) => {
        const left = Math.max(1, deadline - clock.now())
        const result = await runner.verify(adapter, connection, credentials, permit, { signal, timeoutMs: left })
        signal?.removeEventListener('abort', onAbort)
        resolve(result)
        return result.ok ? undefined : result.error
      },
      refuse: (error) => {
        signal?.removeEventListener('abort', onAbort)
        resolve({ ok: false, error })
      },
    })
    signal?.addEventListener('abort', onAbort, { once: true })
    dispatcher.enqueue(lane, job, true)
    dispatcher.pump()
  })
}

/** A connection of an exchange that no adapter of this scheduler syncs. */
export function unsupportedExchange(exchange: string): SyncError {
  return new SyncError('UNSUPPORTED_EXCHANGE', `No adapter syncs exchange "${exchange}".`)
}

/** The exchange is paused for `waitMs` more (a Retry-After or a spent budget). */
export function exchangePaused(exchange: string, waitMs: number): SyncError {
  return new SyncError('RATE_LIMITED', `${exchange} is paused; try again in ${Math.ceil(waitMs / 1000)} s.`, {
    retryAfterMs: waitMs,
    scope: 'exchange',
  })
}

function callerWentAway(): SyncError {
  return new SyncError('CANCELLED', 'The caller went away.')
}
