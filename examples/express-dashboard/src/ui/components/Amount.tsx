import { formatAmount } from '../format/formatAmount.js'

export interface AmountProps {
  value: string
  className?: string
  /** Pad to this many decimals with lighter zeros, so a column of amounts lines up. @default none */
  padTo?: number
}

/**
 * A decimal string, grouped and trimmed for reading; the exact string the exchange sent stays in the tooltip and
 * in `data-value`.
 */
export function Amount({ value, className, padTo }: AmountProps) {
  const { whole, fraction, padding } = formatAmount(value, padTo === undefined ? {} : { padTo })
  return (
    <span className={className ? `amount ${className}` : 'amount'} title={value} data-value={value}>
      {whole}
      {fraction}
      {padding && (
        <span className="amount__padding" aria-hidden="true">
          {padding}
        </span>
      )}
    </span>
  )
}
