import { describe, expect, it } from 'vitest'
import { createCredentialCipher } from '../credentials/createCredentialCipher.js'
import { CredentialsUnreadableError } from '../credentials/credentialsUnreadableError.js'
import { generateCredentialKey } from '../credentials/generateCredentialKey.js'
import { InvalidOptionError } from '../errors/invalidOptionError.js'

const credentials = { apiKey: 'api-key-AAAAAAAAAAAA', secret: 'secret-BBBBBBBBBBBB', password: 'pass-CCCC' }

describe('generateCredentialKey', () => {
  it('makes distinct base64 keys of 32 bytes', () => {
    const a = generateCredentialKey()
    const b = generateCredentialKey()
    expect(a).not.toBe(b)
    expect(Buffer.from(a, 'base64')).toHaveLength(32)
    expect(Buffer.from(a, 'base64').toString('base64')).toBe(a)
  })
})

describe('createCredentialCipher', () => {
  const k1 = generateCredentialKey()
  const k2 = generateCredentialKey()

  it('seals and opens credentials, with the key id beside the ciphertext', async () => {
    const cipher = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    const sealed = await cipher.seal('conn-1', credentials)
    expect(sealed.startsWith('v1.k1.')).toBe(true)
    expect(cipher.keyIdOf(sealed)).toBe('k1')
    expect(await cipher.open('conn-1', sealed)).toEqual(credentials)
  })

  it('never shows the credentials in the sealed value, plain, base64 or hex', async () => {
    const cipher = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    const sealed = await cipher.seal('conn-1', credentials)
    for (const secret of Object.values(credentials)) {
      for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
        expect(sealed).not.toContain(form)
      }
    }
  })

  it('seals the same credentials differently every time (a fresh iv)', async () => {
    const cipher = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    expect(await cipher.seal('conn-1', credentials)).not.toBe(await cipher.seal('conn-1', credentials))
  })

  it('binds a sealed value to its connection id', async () => {
    const cipher = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    const sealed = await cipher.seal('conn-1', credentials)
    const error = await cipher.open('conn-2', sealed).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CredentialsUnreadableError)
    expect(error).toMatchObject({ code: 'CREDENTIALS_UNREADABLE', connectionId: 'conn-2' })
    expect((error as Error).message).toContain('conn-2')
  })

  it('refuses a tampered value', async () => {
    const cipher = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    const sealed = await cipher.seal('conn-1', credentials)
    const parts = sealed.split('.')
    const data = Buffer.from(parts[3] as string, 'base64')
    data[0] = (data[0] as number) ^ 1
    parts[3] = data.toString('base64')
    await expect(cipher.open('conn-1', parts.join('.'))).rejects.toThrow(/tampered/)
    await expect(cipher.open('conn-1', '{"apiKey":"plain"}')).rejects.toThrow(/not a sealed credential/)
  })

  it('opens values under any listed key and seals under the primary (rotation)', async () => {
    const old = createCredentialCipher({ keys: { k1 }, primary: 'k1' })
    const sealed = await old.seal('conn-1', credentials)
    const rotated = createCredentialCipher({ keys: { k1, k2 }, primary: 'k2' })
    expect(await rotated.open('conn-1', sealed)).toEqual(credentials)
    expect(rotated.keyIdOf(await rotated.seal('conn-1', credentials))).toBe('k2')
    const without = createCredentialCipher({ keys: { k2 }, primary: 'k2' })
    await expect(without.open('conn-1', sealed)).rejects.toThrow(/key "k1", which is not in the cipher's keys/)
  })

  it('refuses a value sealed under a different key of the same id', async () => {
    const sealed = await createCredentialCipher({ keys: { k1 }, primary: 'k1' }).seal('conn-1', credentials)
    const other = createCredentialCipher({ keys: { k1: k2 }, primary: 'k1' })
    await expect(other.open('conn-1', sealed)).rejects.toBeInstanceOf(CredentialsUnreadableError)
  })

  it('names the option and says how to make a key when a key is missing or malformed', () => {
    const attempt = (options: unknown) => () => createCredentialCipher(options as never)
    expect(attempt({ keys: { k1: undefined }, primary: 'k1' })).toThrow(InvalidOptionError)
    expect(attempt({ keys: { k1: undefined }, primary: 'k1' })).toThrow(
      /option "keys\.k1" is invalid: must be a base64 string of 32 bytes.*generateCredentialKey\(\)/,
    )
    expect(attempt({ keys: { k1: 'c2hvcnQ=' }, primary: 'k1' })).toThrow(/"keys\.k1"/)
    expect(attempt({ keys: { k1: 'not base64 at all!' }, primary: 'k1' })).toThrow(/"keys\.k1"/)
    expect(attempt({ keys: { k1 }, primary: 'k9' })).toThrow(/option "primary" is invalid: must be one of .*k1/)
    expect(attempt({ keys: {}, primary: 'k1' })).toThrow(/"primary".*generateCredentialKey/)
    expect(attempt({ keys: { 'bad.id': k1 }, primary: 'bad.id' })).toThrow(/key ids/)
    expect(attempt(undefined)).toThrow(InvalidOptionError)
  })

  it('never puts the key itself in the error', () => {
    const almost = k1.slice(0, -4)
    expect(() => createCredentialCipher({ keys: { k1: almost }, primary: 'k1' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(almost) }),
    )
  })
})
