export type { ConformanceOptions } from './syncStoreConformance.js'
export { describeSyncStoreConformance } from './syncStoreConformance.js'
