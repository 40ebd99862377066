import type { SyncfolioRole } from '@syncfolio/nest'

/** The app's settings, read once from the environment, as `@nestjs/config` would provide them. */
export class AppConfig {
  /** How often each connection is synced. A demo speed: production keeps syncfolio's 60 s default. */
  readonly syncIntervalMs: number
  /** `SYNCFOLIO_DATABASE_URL`: the Postgres the store uses; an in-process PGlite when unset. */
  readonly databaseUrl: string | undefined
  /** `SYNCFOLIO_KEY`: the credential key (base64, 32 bytes), required with a database URL. */
  readonly credentialKey: string | undefined

  constructor(env: NodeJS.ProcessEnv) {
    this.syncIntervalMs = positiveInt(env.SYNC_INTERVAL_MS, 15_000, 'SYNC_INTERVAL_MS')
    this.databaseUrl = env.SYNCFOLIO_DATABASE_URL || undefined
    this.credentialKey = env.SYNCFOLIO_KEY || undefined
  }
}

/**
 * `SYNCFOLIO_ROLE`: `all` (the default) schedules and serves the API, `api` only serves it (run it on every API
 * replica), `scheduler` only schedules (run it once). Read where the module is declared, because the role decides
 * which routes exist.
 */
export function syncfolioRole(env: NodeJS.ProcessEnv): SyncfolioRole {
  const role = env.SYNCFOLIO_ROLE ?? 'all'
  if (role === 'all' || role === 'api' || role === 'scheduler') return role
  throw new Error(`SYNCFOLIO_ROLE must be all, api or scheduler; got ${JSON.stringify(role)}`)
}

function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer; got ${value}`)
  return parsed
}
