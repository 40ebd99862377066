// `@syncfolio/core/runner`: the pieces adapters, stores and custom runners build on. Not part of the app-facing
// surface the docs describe; names here may change in a minor release of the core.
export { validateResult } from '../balances/validateResult.js'
export { parseOptions, withoutUndefined } from '../errors/parseOptions.js'
export { createNamedSyncHandler } from '../http/createSyncHandler.js'
export { draftConnection } from '../http/draftConnection.js'
export { unlimited } from '../limits/syncLimiter.js'
export { freshConnection } from '../store/freshConnection.js'
