import { StalenessBadge, useConnections, useHoldings } from '@syncfolio/react'
import { formatSeconds } from '../format/formatSeconds.js'
import { ASSET_NAMES } from '../format/names.js'
import { useNow } from '../format/useNow.js'
import { Amount } from './Amount.js'
import { AssetIcon } from './AssetIcon.js'

const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

/** Every asset summed across the user's connections (exactly, on the server), and how fresh the sum is. */
export function HoldingsCard({ staleAfterMs }: { staleAfterMs: number }) {
  const holdings = useHoldings()
  const connections = useConnections()
  const now = useNow()
  const asOf = holdings.data?.asOf ?? null
  const summed = holdings.data?.connectionIds.length ?? 0
  const total = connections.data?.length ?? 0

  return (
    <section className="card" aria-labelledby="holdings-title">
      <div className="card__header">
        <div>
          <h2 id="holdings-title">Holdings</h2>
          <p className="muted small">
            {summed === 0 ? 'No accounts yet' : `Summed across ${summed} ${summed === 1 ? 'account' : 'accounts'}`}
            {asOf !== null && (
              <>
                {' · '}as of <time dateTime={new Date(asOf).toISOString()}>{TIME.format(asOf)}</time> (
                {formatSeconds(now - asOf)} ago)
              </>
            )}
          </p>
        </div>
        {holdings.data && <StalenessBadge syncedAt={asOf} staleAfterMs={staleAfterMs} data-testid="holdings-badge" />}
      </div>

      {holdings.isPending && <p className="placeholder">Loading balances…</p>}
      {holdings.isError && (
        <p className="notice notice--error" role="alert">
          Could not load balances. We will try again.
        </p>
      )}
      {holdings.data && holdings.data.holdings.length === 0 && (
        <p className="placeholder">
          {total > 0 ? 'Waiting for the first sync…' : 'Connect an exchange account to see its balances here.'}
        </p>
      )}
      {holdings.data && holdings.data.holdings.length > 0 && (
        <table className="holdings">
          <thead>
            <tr>
              <th scope="col">Asset</th>
              <th scope="col" className="num">
                Total
              </th>
              <th scope="col" className="num detail">
                Available
              </th>
              <th scope="col" className="num detail">
                In orders
              </th>
            </tr>
          </thead>
          <tbody>
            {holdings.data.holdings.map((holding) => (
              <tr key={holding.asset} data-asset={holding.asset}>
                <th scope="row">
                  <span className="asset">
                    <AssetIcon asset={holding.asset} />
                    <span>
                      <span className="asset__symbol">{holding.asset}</span>
                      {ASSET_NAMES[holding.asset] && <span className="asset__name">{ASSET_NAMES[holding.asset]}</span>}
                    </span>
                  </span>
                </th>
                <td className="num">
                  <Amount value={holding.total} className="amount--total" padTo={8} />
                </td>
                <td className="num detail">
                  <Amount value={holding.free} padTo={8} />
                </td>
                <td className="num muted detail">
                  {/^[0.]+$/.test(holding.used) ? <NoAmount /> : <Amount value={holding.used} padTo={8} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

/** A zero shown as a dash, read out as "none". */
function NoAmount() {
  return (
    <>
      <span aria-hidden="true">–</span>
      <span className="visually-hidden">none</span>
    </>
  )
}
