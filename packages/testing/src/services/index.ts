export type { PostgresServer, StartPostgresOptions } from './startPostgres.js'
export { startPostgres } from './startPostgres.js'
