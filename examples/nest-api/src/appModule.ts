import { Module } from '@nestjs/common'
import { createCcxtAdapter } from '@syncfolio/ccxt'
import type { SyncStore } from '@syncfolio/core'
import { SyncfolioModule } from '@syncfolio/nest'
import type { FakeExchangeServer } from '@syncfolio/testing'
import { type AuthenticatedRequest, UserHeaderGuard } from './auth/userHeaderGuard.js'
import { AppConfig, syncfolioRole } from './config/appConfig.js'
import { AppConfigModule } from './config/appConfigModule.js'
import { ConnectionsModule } from './connections/connectionsModule.js'
import { DemoModule } from './demo/demoModule.js'
import { FAKE_EXCHANGE, FakeExchangeModule } from './demo/fakeExchangeModule.js'
import { APP_STORE, StoreModule } from './store/storeModule.js'

@Module({
  imports: [
    SyncfolioModule.forRootAsync({
      // Served at /api/syncfolio (main.ts sets the global prefix `api`), behind the app's own guard.
      path: 'syncfolio',
      role: syncfolioRole(process.env),
      guards: [UserHeaderGuard],
      global: true,
      imports: [AppConfigModule, FakeExchangeModule, StoreModule],
      inject: [AppConfig, FAKE_EXCHANGE, APP_STORE],
      useFactory: (config: AppConfig, fake: FakeExchangeServer, store: SyncStore) => ({
        // PostgresStore: the Postgres at SYNCFOLIO_DATABASE_URL, or an in-process PGlite without one.
        store,
        // A real app drops `baseUrl`; here ccxt talks to the local fake exchange.
        exchanges: [
          createCcxtAdapter('binance', { baseUrl: fake.url }),
          createCcxtAdapter('okx', { baseUrl: fake.url }),
        ],
        intervalMs: config.syncIntervalMs,
        resolveUser: (req: AuthenticatedRequest) => req.user?.id ?? null,
      }),
    }),
    ConnectionsModule,
    DemoModule,
  ],
})
export class AppModule {}
