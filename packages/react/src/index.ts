export type {
  ApiErrorCode,
  Balance,
  ConnectionDetailResponse,
  ConnectionStatus,
  ConnectionView,
  CredentialsInput,
  FetchLike,
  HeadersOption,
  Holding,
  HoldingsResponse,
  NewConnectionInput,
  SyncClient,
  SyncEvent,
  SyncNowResponse,
} from '@syncfolio/core/client'
export { createSyncClient, isSyncApiError, SyncApiError } from '@syncfolio/core/client'
export type { SyncfolioMutationOptions, SyncfolioQueryOptions } from './queryOptions.js'
export type {
  StalenessBadgeLabels,
  StalenessBadgeProps,
  StalenessBadgeState,
} from './StalenessBadge.js'
export { DEFAULT_BADGE_LABELS, StalenessBadge } from './StalenessBadge.js'
export type { SyncfolioProviderProps } from './SyncfolioProvider.js'
export { SyncfolioProvider } from './SyncfolioProvider.js'
export { useSyncClient } from './syncfolioContext.js'
export { syncfolioKeys } from './syncfolioKeys.js'
export type { UseAddConnectionOptions } from './useAddConnection.js'
export { useAddConnection } from './useAddConnection.js'
export type { UseConnectionOptions } from './useConnection.js'
export { useConnection } from './useConnection.js'
export type { UseConnectionsOptions } from './useConnections.js'
export { useConnections } from './useConnections.js'
export type { UseExchangesOptions } from './useExchanges.js'
export { useExchanges } from './useExchanges.js'
export type { UseHoldingsOptions } from './useHoldings.js'
export { useHoldings } from './useHoldings.js'
export type { LiveUpdatesOptions } from './useLiveUpdates.js'
export { useLiveUpdates } from './useLiveUpdates.js'
export type { UseRemoveConnectionOptions } from './useRemoveConnection.js'
export { useRemoveConnection } from './useRemoveConnection.js'
export type { Freshness, Staleness, StalenessOptions } from './useStaleness.js'
export { DEFAULT_STALE_AFTER_MS, useStaleness } from './useStaleness.js'
export type { UseSyncNowOptions } from './useSyncNow.js'
export { useSyncNow } from './useSyncNow.js'
export type { UpdateCredentialsVariables, UseUpdateCredentialsOptions } from './useUpdateCredentials.js'
export { useUpdateCredentials } from './useUpdateCredentials.js'
