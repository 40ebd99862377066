export type { Deferred } from './deferred.js'
export { deferred } from './deferred.js'
export { FakeClock, flushPromises } from './fakeClock.js'
export type { FakeWeightWindow } from './fakeExchange/binanceApi.js'
export type { FakeAccount, FakeHttpReply, FakeHttpRequest, FakeRequest } from './fakeExchange/fakeExchange.js'
export { createFakeExchange, FakeExchange } from './fakeExchange/fakeExchange.js'
export type { FakeFault, FakeFaultHandle, FakeFaultTarget } from './fakeExchange/fakeFault.js'
export { FAKE_ERROR_CODES } from './fakeExchange/fakeFault.js'
export type { FakeKeyConcurrency } from './fakeExchange/keyConcurrency.js'
export type {
  FakeAccountOptions,
  FakeBalance,
  FakeBalances,
  FakeBinanceOptions,
  FakeExchangeId,
  FakeExchangeOptions,
  FakeOkxOptions,
} from './fakeExchange/options.js'
export type { StartFakeExchangeOptions } from './fakeExchange/startFakeExchange.js'
export { FakeExchangeServer, startFakeExchange } from './fakeExchange/startFakeExchange.js'
export type { RecordingAdapter } from './recordingAdapter.js'
export { recordingAdapter } from './recordingAdapter.js'
export type { SimulatedExchange, SimulatedExchangeOptions } from './simulatedExchange.js'
export { createSimulatedExchange } from './simulatedExchange.js'
