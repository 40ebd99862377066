import { exchangeName } from '../format/names.js'

/** A small square mark per exchange (no third-party logos): the initials on the exchange's brand colour. */
export function ExchangeLogo({ exchange }: { exchange: string }) {
  return (
    <span className="exchange-logo" data-exchange={exchange} aria-hidden="true">
      {exchange === 'okx' ? 'OKX' : exchangeName(exchange).slice(0, 1).toUpperCase()}
    </span>
  )
}
