import { Injectable, type OnModuleInit } from '@nestjs/common'
import type { SyncStore } from '@syncfolio/core'
import { InjectStore } from '@syncfolio/nest'
import { DEMO_ACCOUNTS } from './demoAccounts.js'

/** Connects the demo users' accounts before the schedule starts, so the first sweep syncs them at once. */
@Injectable()
export class DemoSeeder implements OnModuleInit {
  readonly #store: SyncStore

  constructor(@InjectStore() store: SyncStore) {
    this.#store = store
  }

  async onModuleInit(): Promise<void> {
    for (const { userId, label, exchange, apiKey, secret, password } of DEMO_ACCOUNTS) {
      if (userId === null) continue
      await this.#store.add({ userId, exchange, label, credentials: { apiKey, secret, ...(password && { password }) } })
    }
  }
}
