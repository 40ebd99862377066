import { PGlite } from '@electric-sql/pglite'
import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common'
import { createCredentialCipher, generateCredentialKey } from '@syncfolio/core'
import { PostgresStore } from '@syncfolio/postgres'
import pg from 'pg'
import { AppConfig } from '../config/appConfig.js'
import { AppConfigModule } from '../config/appConfigModule.js'

/** Token of the app's `PostgresStore`. */
export const APP_STORE = Symbol('APP_STORE')

/** Closes the store after Nest has drained the syncs (SyncfolioModule drains before shutdown). */
@Injectable()
class StoreCloser implements OnApplicationShutdown {
  readonly #store: PostgresStore

  constructor(@Inject(APP_STORE) store: PostgresStore) {
    this.#store = store
  }

  onApplicationShutdown(): Promise<void> {
    return this.#store.close()
  }
}

/**
 * The app's SyncStore: Postgres at `SYNCFOLIO_DATABASE_URL` (credentials sealed with `SYNCFOLIO_KEY`), or an
 * in-process PGlite when no URL is given, so the demo runs with nothing installed.
 */
@Module({
  imports: [AppConfigModule],
  providers: [
    {
      provide: APP_STORE,
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        if (config.databaseUrl !== undefined && config.credentialKey === undefined) {
          throw new Error(
            'SYNCFOLIO_DATABASE_URL is set but SYNCFOLIO_KEY is not: make one with generateCredentialKey()',
          )
        }
        // In-process PGlite forgets everything on exit, so a key made for this process is enough there.
        const key = config.credentialKey ?? generateCredentialKey()
        const store = new PostgresStore({
          db: config.databaseUrl ? new pg.Pool({ connectionString: config.databaseUrl }) : new PGlite(),
          cipher: createCredentialCipher({ keys: { k1: key }, primary: 'k1' }),
        })
        await store.migrate()
        return store
      },
    },
    StoreCloser,
  ],
  exports: [APP_STORE],
})
export class StoreModule {}
