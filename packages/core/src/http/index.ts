export type { SyncHandler } from './createSyncHandler.js'
export { createSyncHandler } from './createSyncHandler.js'
export type { ResolveUser, SyncHandlerOptions, SyncHandlerScheduler } from './options.js'
