import type { ResolvedLimits } from '@syncfolio/core'

/**
 * The Redis keys of one exchange's budgets and pauses. Every key carries the exchange as its hash tag, so the keys
 * of one script share a Redis Cluster slot (a prefix with a hash tag of its own, `{syncfolio}`, wins and puts every
 * key in that slot, which is as safe). Exchange-scope keys carry the egress; account keys the account, and no
 * egress: an account's budget is the exchange's count for the account, whatever IP the call left from. Names are
 * URI-encoded, so no account id can reach into another key or end the hash tag early.
 */
export class LimiterKeys {
  readonly #base: string
  readonly #egress: string

  constructor(prefix: string, egress: string) {
    this.#base = `${prefix}:limiter:`
    this.#egress = encodeURIComponent(egress)
  }

  /** KEYS of both scripts: exchange pause, account pause, index of paused accounts, then per budget state and log. */
  forCall(exchange: string, account: string, budgets: ResolvedLimits['budgets']): string[] {
    const root = `${this.#base}{${encodeURIComponent(exchange)}}:`
    const who = encodeURIComponent(account)
    const keys = [`${root}pause:egress:${this.#egress}`, `${root}pause:account:${who}`, `${root}paused-accounts`]
    for (const [index, budget] of budgets.entries()) {
      // The shape is in the name: a budget whose window changes starts afresh instead of misreading old state.
      const shape = `${index}:${budget.align ?? 'sliding'}:${budget.windowMs}`
      const owner = budget.scope === 'exchange' ? `egress:${this.#egress}` : `account:${who}`
      keys.push(`${root}budget:${shape}:${owner}`, `${root}budget:${shape}:${owner}:log`)
    }
    return keys
  }
}
