export type { SyncHandler } from './createSyncHandler.js'
export { createSyncHandler } from './createSyncHandler.js'
export { draftConnection } from './draftConnection.js'
export type { ResolveUser, SyncHandlerOptions, SyncHandlerScheduler } from './options.js'
