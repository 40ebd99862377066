/**
 * Stored credentials that could not be opened: tampered, sealed for another connection, under a key the cipher
 * does not hold, or not sealed at all. It concerns that one connection; the store and every other connection
 * keep working.
 */
export class CredentialsUnreadableError extends Error {
  override readonly name = 'CredentialsUnreadableError'
  readonly code = 'CREDENTIALS_UNREADABLE'
  readonly connectionId: string

  constructor(connectionId: string, reason: string, options?: { cause?: unknown }) {
    super(`The stored credentials of connection ${connectionId} cannot be read: ${reason}`, options)
    this.connectionId = connectionId
  }
}
