// Market data the fake serves to ccxt's loadMarkets: a few real-looking markets per endpoint, shaped like the
// exchanges' own payloads (trimmed to the fields ccxt reads), so a full loadMarkets succeeds against the fake.

const SPOT_PAIRS: Array<[base: string, quote: string]> = [
  ['BTC', 'USDT'],
  ['ETH', 'USDT'],
  ['ETH', 'BTC'],
  ['SOL', 'USDT'],
  ['BNB', 'USDT'],
]

/** Assets every fake currency list knows about, besides those the accounts hold. */
export const KNOWN_ASSETS = ['BTC', 'ETH', 'USDT', 'SOL', 'BNB', 'OKB']

/** How Binance names a window in its messages and `exchangeInfo`: `1 MINUTE`, `10 SECOND`. */
export function intervalName(windowMs: number): string {
  if (windowMs % 60_000 === 0) return `${windowMs / 60_000} MINUTE`
  return `${Math.max(1, Math.round(windowMs / 1000))} SECOND`
}

/** `rateLimits` of `exchangeInfo`; the request weight's window as `binance.weightWindowMs` sets it. */
export function binanceRateLimits(weightPerMinute: number, windowMs = 60_000) {
  const [intervalNum, interval] = intervalName(windowMs).split(' ') as [string, string]
  return [
    { rateLimitType: 'REQUEST_WEIGHT', interval, intervalNum: Number(intervalNum), limit: weightPerMinute },
    { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
    { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
    { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
  ]
}

export function binanceSpotExchangeInfo(now: number, weightPerMinute: number, windowMs = 60_000) {
  return {
    timezone: 'UTC',
    serverTime: now,
    rateLimits: binanceRateLimits(weightPerMinute, windowMs),
    exchangeFilters: [],
    symbols: SPOT_PAIRS.map(([base, quote]) => ({
      symbol: `${base}${quote}`,
      status: 'TRADING',
      baseAsset: base,
      baseAssetPrecision: 8,
      quoteAsset: quote,
      quotePrecision: 8,
      quoteAssetPrecision: 8,
      baseCommissionPrecision: 8,
      quoteCommissionPrecision: 8,
      orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
      icebergAllowed: true,
      ocoAllowed: true,
      otoAllowed: true,
      quoteOrderQtyMarketAllowed: true,
      allowTrailingStop: true,
      cancelReplaceAllowed: true,
      isSpotTradingAllowed: true,
      isMarginTradingAllowed: true,
      filters: [
        { filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' },
        { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
        { filterType: 'NOTIONAL', minNotional: '5.00000000', applyMinToMarket: true, maxNotional: '9000000.00000000' },
      ],
      permissions: [],
      permissionSets: [['SPOT', 'MARGIN']],
      defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
      allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
    })),
  }
}

export function binanceFuturesExchangeInfo(now: number, kind: 'linear' | 'inverse') {
  const linear = kind === 'linear'
  return {
    timezone: 'UTC',
    serverTime: now,
    rateLimits: [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 }],
    exchangeFilters: [],
    assets: [],
    symbols: [
      {
        symbol: linear ? 'BTCUSDT' : 'BTCUSD_PERP',
        pair: linear ? 'BTCUSDT' : 'BTCUSD',
        contractType: 'PERPETUAL',
        deliveryDate: 4133404800000,
        onboardDate: 1569398400000,
        ...(linear ? { status: 'TRADING' } : { contractStatus: 'TRADING', contractSize: 100 }),
        maintMarginPercent: '2.5000',
        requiredMarginPercent: '5.0000',
        baseAsset: 'BTC',
        quoteAsset: linear ? 'USDT' : 'USD',
        marginAsset: linear ? 'USDT' : 'BTC',
        pricePrecision: linear ? 2 : 1,
        quantityPrecision: linear ? 3 : 0,
        baseAssetPrecision: 8,
        quotePrecision: 8,
        underlyingType: 'COIN',
        underlyingSubType: ['PoW'],
        triggerProtect: '0.0500',
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: '556.80', maxPrice: '4529764', tickSize: '0.10' },
          { filterType: 'LOT_SIZE', minQty: '0.001', maxQty: '1000', stepSize: '0.001' },
          { filterType: 'MARKET_LOT_SIZE', minQty: '0.001', maxQty: '120', stepSize: '0.001' },
        ],
        orderTypes: ['LIMIT', 'MARKET', 'STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET'],
        timeInForce: ['GTC', 'IOC', 'FOK', 'GTX'],
      },
    ],
  }
}

export function binanceCoinConfig(asset: string, free: string, locked: string) {
  return {
    coin: asset,
    depositAllEnable: true,
    withdrawAllEnable: true,
    name: asset,
    free,
    locked,
    freeze: '0',
    withdrawing: '0',
    ipoing: '0',
    ipoable: '0',
    storage: '0',
    isLegalMoney: false,
    trading: true,
    networkList: [
      {
        network: asset,
        coin: asset,
        withdrawIntegerMultiple: '0.00000001',
        isDefault: true,
        depositEnable: true,
        withdrawEnable: true,
        depositDesc: '',
        withdrawDesc: '',
        specialTips: '',
        name: asset,
        resetAddressStatus: false,
        addressRegex: '^[0-9A-Za-z]{26,62}$',
        memoRegex: '',
        withdrawFee: '0.0001',
        withdrawMin: '0.001',
        withdrawMax: '10000000',
        minConfirm: 1,
        unLockConfirm: 2,
        sameAddress: false,
        estimatedArrivalTime: 5,
        busy: false,
      },
    ],
  }
}

export function binanceMarginPairs(isolated: boolean) {
  return SPOT_PAIRS.map(([base, quote], index) => ({
    ...(isolated ? {} : { id: 351_637_150_141_315 + index }),
    symbol: `${base}${quote}`,
    base,
    quote,
    isMarginTrade: true,
    isBuyAllowed: true,
    isSellAllowed: true,
  }))
}

export function okxInstruments(instType: string) {
  if (instType === 'SPOT') {
    return SPOT_PAIRS.map(([base, quote]) => ({
      instType: 'SPOT',
      instId: `${base}-${quote}`,
      uly: '',
      instFamily: '',
      baseCcy: base,
      quoteCcy: quote,
      settleCcy: '',
      ctVal: '',
      ctMult: '',
      ctValCcy: '',
      optType: '',
      stk: '',
      listTime: '1548133413000',
      expTime: '',
      lever: '10',
      tickSz: '0.1',
      lotSz: '0.00000001',
      minSz: '0.00001',
      ctType: '',
      alias: '',
      state: 'live',
      maxLmtSz: '9999999999',
      maxMktSz: '1000000',
      maxLmtAmt: '20000000',
      maxMktAmt: '1000000',
    }))
  }
  if (instType === 'SWAP') {
    return [
      {
        instType: 'SWAP',
        instId: 'BTC-USDT-SWAP',
        uly: 'BTC-USDT',
        instFamily: 'BTC-USDT',
        baseCcy: '',
        quoteCcy: '',
        settleCcy: 'USDT',
        ctVal: '0.01',
        ctMult: '1',
        ctValCcy: 'BTC',
        optType: '',
        stk: '',
        listTime: '1573557408000',
        expTime: '',
        lever: '100',
        tickSz: '0.1',
        lotSz: '0.01',
        minSz: '0.01',
        ctType: 'linear',
        alias: '',
        state: 'live',
        maxLmtSz: '100000000',
        maxMktSz: '12000',
      },
    ]
  }
  return []
}

export function okxCurrency(asset: string) {
  return {
    ccy: asset,
    chain: `${asset}-${asset}`,
    name: asset,
    logoLink: '',
    canDep: true,
    canWd: true,
    canInternal: true,
    minDep: '0.00000001',
    minWd: '0.001',
    maxWd: '10000000',
    wdTickSz: '8',
    wdQuota: '10000000',
    usedWdQuota: '0',
    minFee: '0.0001',
    maxFee: '0.0002',
    mainNet: true,
    needTag: false,
    minDepArrivalConfirm: '1',
    minWdUnlockConfirm: '2',
    depQuotaFixed: '',
    usedDepQuotaFixed: '',
  }
}
