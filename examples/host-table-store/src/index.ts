export { hostSchema } from './schema.sql.js'
export type { Queryable } from './userConnectionsStore.js'
export { UserConnectionsStore } from './userConnectionsStore.js'
