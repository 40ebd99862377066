import type { ConnectionView } from '../client/contract.js'
import type { Connection } from '../types.js'

/**
 * The connection as its owner sees it over HTTP. Built field by field rather than by removing fields, so whatever
 * else a custom store puts on its objects (credentials included) never reaches a response.
 */
export function toConnectionView(connection: Connection): ConnectionView {
  const { lastError } = connection
  return {
    id: connection.id,
    exchange: connection.exchange,
    label: connection.label ?? null,
    status: connection.status,
    lastSyncAt: connection.lastSyncAt,
    lastAttemptAt: connection.lastAttemptAt,
    nextSyncAt: connection.nextSyncAt,
    failureCount: connection.failureCount,
    lastError: lastError && { code: lastError.code, message: lastError.message, at: lastError.at },
  }
}
