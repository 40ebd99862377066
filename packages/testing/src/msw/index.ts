export type { FakeExchangeHandlersOptions } from './fakeExchangeHandlers.js'
export { EXCHANGE_ORIGINS, fakeExchangeHandlers } from './fakeExchangeHandlers.js'
