export type { SyncHandler } from './createSyncHandler.js'
export { createSyncHandler } from './createSyncHandler.js'
export type { ResolveUser, SyncHandlerOptions, SyncHandlerScheduler } from './options.js'
export type {
  VerifyCredentialsOptions,
  VerifyCredentialsRequest,
  VerifyCredentialsResult,
} from './verifyCredentials.js'
export { draftConnection, verifyCredentials } from './verifyCredentials.js'
