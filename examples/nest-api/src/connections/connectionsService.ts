import { Injectable } from '@nestjs/common'
import { type ConnectionStatus, type SyncScheduler, type SyncStore, sumDecimals } from '@syncfolio/core'
import { InjectScheduler, InjectStore } from '@syncfolio/nest'

export interface PortfolioConnection {
  id: string
  exchange: string
  label: string | null
  status: ConnectionStatus
  /** Start of the last successful sync, epoch ms; null before the first. */
  lastSyncAt: number | null
}

export interface Portfolio {
  connections: PortfolioConnection[]
  /** Every asset summed over the user's connections, as exact decimal strings. */
  totals: Array<{ asset: string; total: string }>
  /** The oldest `lastSyncAt`: the totals are at least this fresh. Null while a connection has never synced. */
  asOf: number | null
}

/**
 * The app's own view of a user's exchange accounts, built on what syncfolio keeps fresh: the store for reads, the
 * scheduler for "refresh now". Injected by token, like any syncfolio provider.
 */
@Injectable()
export class ConnectionsService {
  readonly #store: SyncStore
  readonly #scheduler: SyncScheduler

  constructor(@InjectStore() store: SyncStore, @InjectScheduler() scheduler: SyncScheduler) {
    this.#store = store
    this.#scheduler = scheduler
  }

  async portfolio(userId: string): Promise<Portfolio> {
    // The user is looking: their connections go first while the budget is short.
    this.#scheduler.markActive(userId)
    const connections = await this.#store.listByUser(userId)
    const amounts = new Map<string, string[]>()
    for (const connection of connections) {
      for (const { asset, total } of (await this.#store.getBalances(connection.id)) ?? []) {
        amounts.set(asset, [...(amounts.get(asset) ?? []), total])
      }
    }
    const synced = connections.map((connection) => connection.lastSyncAt)
    return {
      connections: connections.map(({ id, exchange, label, status, lastSyncAt }) => ({
        id,
        exchange,
        label: label ?? null,
        status,
        lastSyncAt,
      })),
      totals: [...amounts]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([asset, totals]) => ({ asset, total: sumDecimals(totals) })),
      asOf: synced.length === 0 || synced.includes(null) ? null : Math.min(...(synced as number[])),
    }
  }

  /** Syncs every active connection of the user now, within the exchanges' budgets; waits for the outcomes. */
  async refresh(userId: string): Promise<{ synced: number; failed: Array<{ id: string; code: string }> }> {
    const active = (await this.#store.listByUser(userId)).filter((connection) => connection.status === 'active')
    const outcomes = await Promise.all(active.map((connection) => this.#scheduler.syncNow(connection.id)))
    return {
      synced: outcomes.filter((outcome) => outcome.ok).length,
      failed: outcomes.flatMap((outcome) =>
        outcome.ok ? [] : [{ id: outcome.connectionId, code: outcome.error.code }],
      ),
    }
  }
}
