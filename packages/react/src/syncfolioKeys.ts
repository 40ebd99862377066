const ROOT = 'syncfolio'

/**
 * Every query key the syncfolio hooks use, so an app can invalidate, prefetch or read their cache:
 * `queryClient.invalidateQueries({ queryKey: syncfolioKeys.all })` refetches everything syncfolio shows.
 *
 * The connection list and the connection details sit under different segments (`connections` / `connection`),
 * so invalidating the list by prefix does not also refetch every detail.
 */
export const syncfolioKeys = {
  /** Prefix of every syncfolio query. */
  all: [ROOT] as const,
  /** `useExchanges`. */
  exchanges: () => [ROOT, 'exchanges'] as const,
  /** `useConnections`: the list. */
  connections: () => [ROOT, 'connections'] as const,
  /** Prefix of every `useConnection` detail. */
  connectionDetails: () => [ROOT, 'connection'] as const,
  /** `useConnection(id)`. */
  connection: (id: string) => [ROOT, 'connection', id] as const,
  /** Prefix of every `useHoldings` query, whatever its selection. */
  allHoldings: () => [ROOT, 'holdings'] as const,
  /**
   * `useHoldings({ connectionIds })`. The ids are sorted and deduplicated, so the same selection in another order
   * shares one cache entry; `connectionIds: null` in the key means every connection of the user.
   */
  holdings: (connectionIds?: readonly string[]) =>
    [ROOT, 'holdings', { connectionIds: normalizeConnectionIds(connectionIds) }] as const,
  /** Mutation keys, for `useIsMutating` / `useMutationState` (e.g. show "Syncing" on a row from anywhere). */
  mutations: {
    syncNow: () => [ROOT, 'syncNow'] as const,
    addConnection: () => [ROOT, 'addConnection'] as const,
    updateCredentials: () => [ROOT, 'updateCredentials'] as const,
    removeConnection: () => [ROOT, 'removeConnection'] as const,
  },
}

/** Sorted, deduplicated copy; null for "every connection" (undefined). */
export function normalizeConnectionIds(connectionIds: readonly string[] | undefined): string[] | null {
  if (connectionIds === undefined) return null
  return [...new Set(connectionIds)].sort()
}

/**
 * Whether a holdings query key may include this connection: an unfiltered one always does, a filtered one when the
 * id is in its selection. Keys that are not holdings keys never match.
 */
export function holdingsKeyIncludes(queryKey: readonly unknown[], connectionId: string): boolean {
  if (queryKey[0] !== ROOT || queryKey[1] !== 'holdings') return false
  const selection = queryKey[2] as { connectionIds?: unknown } | undefined
  const ids = selection?.connectionIds
  return !Array.isArray(ids) || ids.includes(connectionId)
}
