import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common'
import { type FakeExchangeServer, startFakeExchange } from '@syncfolio/testing'
import { DEMO_ACCOUNTS } from './demoAccounts.js'

/** Token of the running fake exchange (`FakeExchangeServer`): Binance and OKX REST on one local port. */
export const FAKE_EXCHANGE = Symbol('FAKE_EXCHANGE')

/** Closes the fake once Nest has drained the syncs and closed the HTTP server: it is the last thing to go. */
@Injectable()
class FakeExchangeCloser implements OnApplicationShutdown {
  readonly #fake: FakeExchangeServer

  constructor(@Inject(FAKE_EXCHANGE) fake: FakeExchangeServer) {
    this.#fake = fake
  }

  onApplicationShutdown(): Promise<void> {
    return this.#fake.close()
  }
}

/**
 * Stands in for the real exchanges: a local HTTP server that speaks Binance's and OKX's balance APIs, with their
 * signatures and rate limits. A real app has no such module; its ccxt adapters go to the exchanges' own hosts.
 */
@Module({
  providers: [
    {
      provide: FAKE_EXCHANGE,
      useFactory: () => startFakeExchange({ accounts: DEMO_ACCOUNTS.map(({ userId, label, ...account }) => account) }),
    },
    FakeExchangeCloser,
  ],
  exports: [FAKE_EXCHANGE],
})
export class FakeExchangeModule {}
