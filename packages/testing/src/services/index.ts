export type { PostgresServer, StartPostgresOptions } from './startPostgres.js'
export { freePort, startPostgres } from './startPostgres.js'
