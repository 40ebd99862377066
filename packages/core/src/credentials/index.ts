export type { CredentialCipher, CredentialCipherOptions } from './createCredentialCipher.js'
export { createCredentialCipher } from './createCredentialCipher.js'
export { CredentialsUnreadableError } from './credentialsUnreadableError.js'
export { generateCredentialKey } from './generateCredentialKey.js'
