export type { ReencryptOptions, ReencryptResult } from '@syncfolio/sql'
export { sqliteMigrations } from './migrations.js'
export type { SqliteStoreOptions } from './sqliteStore.js'
export { SqliteStore } from './sqliteStore.js'
