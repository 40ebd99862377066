import { validateResult } from '../balances/validateResult.js'
import { scrubSyncError, secretValues } from '../errors/scrub.js'
import { SyncError, toSyncError } from '../errors/syncError.js'
import { type Clock, systemClock } from '../scheduler/clock.js'
import type { Balance, Connection, Credentials, ExchangeAdapter } from '../types.js'

export interface VerifyCredentialsRequest {
  /** The connection the keys are for: the stored one on a reconnect, a `draftConnection` for new keys. */
  connection: Connection
  credentials: Credentials
}

export interface VerifyCredentialsOptions {
  /** Aborts the test-fetch (the client went away); the result is then `CANCELLED`. */
  signal?: AbortSignal
  /** The adapter call is aborted and fails with `TIMEOUT` after this long. @default 30_000 */
  timeoutMs?: number
  /** Time source for the timeout. @default the system clock */
  clock?: Clock
}

export type VerifyCredentialsResult = { ok: true; balances: Balance[] } | { ok: false; error: SyncError }

/**
 * Test-fetches balances with keys that are not stored (yet), the way the scheduler would sync them: the result is
 * validated, a hanging adapter is aborted at `timeoutMs`, anything thrown becomes a SyncError, and every message
 * is scrubbed of the credential values. Never rejects. `error.permanent` says the exchange refused the keys
 * (`AUTH_FAILED`, `PERMISSION_DENIED`, `ACCOUNT_SUSPENDED`); other codes mean it could not tell.
 *
 * The call goes straight to the adapter, outside the scheduler's rate-limit budgets.
 */
export async function verifyCredentials(
  adapter: ExchangeAdapter,
  request: VerifyCredentialsRequest,
  options: VerifyCredentialsOptions = {},
): Promise<VerifyCredentialsResult> {
  const { signal, timeoutMs = 30_000, clock = systemClock } = options
  const secrets = secretValues(request.credentials)
  const controller = new AbortController()
  const onAbort = () => controller.abort(new SyncError('CANCELLED', 'The request was aborted.'))
  if (signal?.aborted) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  // Both the timeout and the caller's abort end the race through the controller, with the reason as the error,
  // even when the adapter ignores its signal.
  const timer = clock.setTimeout(() => {
    controller.abort(new SyncError('TIMEOUT', `No answer from ${adapter.id} within ${timeoutMs} ms.`))
  }, timeoutMs)
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(controller.signal.reason)
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true })
  })
  try {
    const fetched = Promise.resolve().then(() =>
      adapter.fetchBalances({
        connection: { ...request.connection },
        credentials: { ...request.credentials },
        signal: controller.signal,
      }),
    )
    const result = validateResult(await Promise.race([fetched, aborted]))
    return { ok: true, balances: result.balances }
  } catch (thrown) {
    return { ok: false, error: scrubSyncError(toSyncError(thrown), secrets) }
  } finally {
    clock.clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** A connection snapshot for keys not stored yet, for the adapter's `connection` argument. */
export function draftConnection(input: { userId: string; exchange: string; label?: string }): Connection {
  return {
    id: `unsaved-${globalThis.crypto.randomUUID()}`,
    userId: input.userId,
    exchange: input.exchange,
    ...(input.label !== undefined && { label: input.label }),
    status: 'active',
    lastSyncAt: null,
    lastAttemptAt: null,
    nextSyncAt: null,
    failureCount: 0,
    lastError: null,
  }
}
