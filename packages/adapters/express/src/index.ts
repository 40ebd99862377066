export type { SyncfolioRouterOptions } from './syncfolioRouter.js'
export { syncfolioRouter } from './syncfolioRouter.js'
