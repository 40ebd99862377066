import { freshConnection } from '../store/freshConnection.js'
import type { Connection } from '../types.js'

/** A connection snapshot for keys not stored yet, for the adapter's `connection` argument. */
export function draftConnection(input: { userId: string; exchange: string; label?: string }): Connection {
  return freshConnection(`unsaved-${globalThis.crypto.randomUUID()}`, input)
}
