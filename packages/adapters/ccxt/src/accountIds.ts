/** How long a failed account-id lookup is not tried again: the sync goes on without it meanwhile. */
export const ACCOUNT_ID_RETRY_MS = 10 * 60_000

type Entry = { id: string } | { retryAt: number }

/**
 * The exchange's account id of each API key, learned once per key. A lookup that failed is not tried again before
 * `retryMs`, so a key whose lookup keeps failing costs one extra request per `retryMs`, not one per sync. Holds at
 * most `maxEntries` keys, forgetting the least recently used.
 */
export class AccountIds {
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #retryMs: number

  constructor({ maxEntries = 100_000, retryMs = ACCOUNT_ID_RETRY_MS } = {}) {
    this.#maxEntries = maxEntries
    this.#retryMs = retryMs
  }

  /** The id learned for this key, if any. */
  idOf(apiKey: string): string | undefined {
    const entry = this.#entries.get(apiKey)
    if (!entry) return undefined
    this.#touch(apiKey, entry)
    return 'id' in entry ? entry.id : undefined
  }

  /** Whether to ask the exchange now: the key is new, or its failed lookup is old enough to try again. */
  due(apiKey: string, now: number): boolean {
    const entry = this.#entries.get(apiKey)
    return !entry || ('retryAt' in entry && now >= entry.retryAt)
  }

  learned(apiKey: string, id: string): void {
    this.#touch(apiKey, { id })
  }

  failed(apiKey: string, now: number): void {
    this.#touch(apiKey, { retryAt: now + this.#retryMs })
  }

  get size(): number {
    return this.#entries.size
  }

  #touch(apiKey: string, entry: Entry): void {
    this.#entries.delete(apiKey)
    this.#entries.set(apiKey, entry)
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }
}
