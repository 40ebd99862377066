export { isEventStream, problemResponse, sendFetchResponse } from './sendFetchResponse.js'
export type { ToFetchRequestOptions } from './toFetchRequest.js'
export { discardRequestBody, toFetchRequest } from './toFetchRequest.js'
