export { isEventStream, sendFetchResponse } from './sendFetchResponse.js'
export type { ToFetchRequestOptions } from './toFetchRequest.js'
export { toFetchRequest } from './toFetchRequest.js'
