import { toBase64 } from './base64.js'

/**
 * A new random AES-256 key for `createCredentialCipher`, as base64 (32 bytes). Keep it outside the database
 * (an environment variable, a secret manager, a file beside the data folder): whoever holds both can read the keys.
 */
export function generateCredentialKey(): string {
  return toBase64(globalThis.crypto.getRandomValues(new Uint8Array(32)))
}
