export type { SyncfolioRequest, SyncfolioRouter, SyncfolioRouterOptions } from './syncfolioRouter.js'
export { syncfolioRouter } from './syncfolioRouter.js'
