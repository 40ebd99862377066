export type {
  ApiErrorBody,
  ApiErrorCode,
  ApiIssue,
  Balance,
  ConnectionDetailResponse,
  ConnectionResponse,
  ConnectionStatus,
  ConnectionsResponse,
  ConnectionView,
  CredentialsInput,
  ExchangeHealth,
  ExchangesResponse,
  HealthResponse,
  Holding,
  HoldingsResponse,
  NewConnectionInput,
  SyncErrorView,
  SyncEvent,
  SyncEventType,
  SyncNowResponse,
  UpdateCredentialsInput,
} from './contract.js'
export {
  API_ERROR_CODES,
  apiErrorBodySchema,
  apiIssueSchema,
  balanceSchema,
  connectionDetailResponseSchema,
  connectionResponseSchema,
  connectionStatusSchema,
  connectionsResponseSchema,
  connectionViewSchema,
  credentialsInputSchema,
  decimalStringSchema,
  exchangeHealthSchema,
  exchangesResponseSchema,
  FIELD_LIMITS,
  healthResponseSchema,
  holdingSchema,
  holdingsResponseSchema,
  newConnectionInputSchema,
  SYNC_EVENT_TYPES,
  syncErrorViewSchema,
  syncEventSchema,
  syncNowResponseSchema,
  updateCredentialsInputSchema,
} from './contract.js'
export type {
  FetchLike,
  HeadersOption,
  HoldingsQuery,
  RequestOptions,
  SyncClient,
  SyncClientOptions,
} from './createSyncClient.js'
export { createSyncClient } from './createSyncClient.js'
export { parseSyncEvent } from './parseSyncEvent.js'
export type { ServerSentEvent } from './readServerSentEvents.js'
export { readServerSentEvents } from './readServerSentEvents.js'
export type { ClientErrorCode, SyncApiErrorOptions } from './syncApiError.js'
export { isSyncApiError, SyncApiError } from './syncApiError.js'
