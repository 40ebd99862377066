import { z } from 'zod'
import { InvalidOptionError } from '../errors/invalidOptionError.js'
import { parseOptions } from '../errors/parseOptions.js'
import type { Credentials } from '../types.js'
import { fromBase64, toBase64 } from './base64.js'
import { CredentialsUnreadableError } from './credentialsUnreadableError.js'

export interface CredentialCipherOptions {
  /**
   * Every key that may open stored credentials, by key id: base64 strings of 32 random bytes, as
   * `generateCredentialKey()` makes them. Keep retired keys here until `reencrypt()` has moved every row off them.
   */
  keys: Record<string, string>
  /** The id (in `keys`) of the key new credentials are sealed with. */
  primary: string
}

/**
 * Seals credentials for storage with AES-256-GCM. A sealed value is text, `v1.<keyId>.<iv>.<ciphertext>`, bound
 * to its connection id (additional authenticated data), so a sealed value copied onto another row does not open.
 */
export interface CredentialCipher {
  /** The id of the key new values are sealed with. */
  readonly primary: string
  seal(connectionId: string, credentials: Credentials): Promise<string>
  /** @throws CredentialsUnreadableError when the value is tampered, foreign or under an unknown key. */
  open(connectionId: string, sealed: string): Promise<Credentials>
  /** The key id a sealed value was sealed with, or null when it is not a sealed value. */
  keyIdOf(sealed: string): string | null
}

const OWNER = 'createCredentialCipher'
const VERSION = 'v1'
const IV_BYTES = 12
const HOW_TO_MAKE_A_KEY =
  'make one with generateCredentialKey() from @syncfolio/core, or run: node -e "console.log(crypto.randomBytes(32).toString(\'base64\'))"'

const optionsSchema = z.object({
  keys: z.record(z.string(), z.unknown()),
  primary: z.string().min(1),
})

const credentialsSchema = z.object({
  apiKey: z.string(),
  secret: z.string(),
  password: z.string().optional(),
  uid: z.string().optional(),
})

/**
 * A CredentialCipher over WebCrypto. Checks every key at construction: a missing or malformed key throws an
 * InvalidOptionError that names the option and says how to make a key.
 *
 * ```ts
 * const cipher = createCredentialCipher({ keys: { k1: process.env.SYNCFOLIO_KEY }, primary: 'k1' })
 * ```
 */
export function createCredentialCipher(options: CredentialCipherOptions): CredentialCipher {
  const parsed = parseOptions(OWNER, optionsSchema, options)
  const raw = new Map<string, Uint8Array>()
  for (const [id, value] of Object.entries(parsed.keys)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      throw new InvalidOptionError(OWNER, 'keys', 'key ids are 1 to 64 letters, digits, "_" or "-"', id)
    }
    const bytes = typeof value === 'string' ? fromBase64(value.trim()) : null
    if (bytes?.length !== 32) {
      throw new InvalidOptionError(
        OWNER,
        `keys.${id}`,
        `must be a base64 string of 32 bytes (an AES-256 key); ${HOW_TO_MAKE_A_KEY}`,
        value === undefined || value === '' ? value : '(a value that is not such a key)',
      )
    }
    raw.set(id, bytes)
  }
  if (!raw.has(parsed.primary)) {
    const problem =
      raw.size === 0
        ? `names no key, and "keys" is empty; ${HOW_TO_MAKE_A_KEY}`
        : `must be one of the ids in "keys" (${[...raw.keys()].join(', ')})`
    throw new InvalidOptionError(OWNER, 'primary', problem, parsed.primary)
  }

  const imported = new Map<string, Promise<CryptoKey>>()
  const keyFor = (id: string): Promise<CryptoKey> => {
    let key = imported.get(id)
    if (!key) {
      key = globalThis.crypto.subtle.importKey('raw', raw.get(id) as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
        'encrypt',
        'decrypt',
      ])
      imported.set(id, key)
    }
    return key
  }
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  const primary = parsed.primary

  return {
    primary,

    async seal(connectionId, credentials) {
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
      const plain = encoder.encode(JSON.stringify(credentials))
      const sealed = await globalThis.crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: encoder.encode(connectionId) },
        await keyFor(primary),
        plain,
      )
      return [VERSION, primary, toBase64(iv), toBase64(new Uint8Array(sealed))].join('.')
    },

    async open(connectionId, sealed) {
      const parts = sealed.split('.')
      const [version, keyId, ivText, dataText] = parts
      const iv = ivText === undefined ? null : fromBase64(ivText)
      const data = dataText === undefined ? null : fromBase64(dataText)
      if (parts.length !== 4 || version !== VERSION || !iv || iv.length !== IV_BYTES || !data) {
        throw new CredentialsUnreadableError(connectionId, 'the stored value is not a sealed credential')
      }
      if (!raw.has(keyId as string)) {
        throw new CredentialsUnreadableError(
          connectionId,
          `they were sealed under key "${keyId}", which is not in the cipher's keys`,
        )
      }
      let plain: ArrayBuffer
      try {
        plain = await globalThis.crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: encoder.encode(connectionId) },
          await keyFor(keyId as string),
          data as Uint8Array<ArrayBuffer>,
        )
      } catch (cause) {
        throw new CredentialsUnreadableError(
          connectionId,
          `decryption under key "${keyId}" failed (tampered, or sealed for another connection)`,
          { cause },
        )
      }
      const credentials = credentialsSchema.safeParse(safeJson(decoder.decode(plain)))
      if (!credentials.success) {
        throw new CredentialsUnreadableError(connectionId, 'the decrypted value is not a set of credentials')
      }
      return credentials.data as Credentials
    },

    keyIdOf(sealed) {
      const parts = sealed.split('.')
      return parts.length === 4 && parts[0] === VERSION ? (parts[1] as string) : null
    },
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
