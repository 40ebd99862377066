import {
  type ConnectionView,
  isSyncApiError,
  StalenessBadge,
  useConnection,
  useRemoveConnection,
  useSyncNow,
} from '@syncfolio/react'
import { useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { DEMO_STATE_KEY } from '../demo/useDemoState.js'
import { formatAmountText } from '../format/formatAmount.js'
import { formatSeconds } from '../format/formatSeconds.js'
import { exchangeName, syncErrorText } from '../format/names.js'
import { ExchangeLogo } from './ExchangeLogo.js'
import { ReconnectForm } from './ReconnectForm.js'

export interface ConnectionRowProps {
  connection: ConnectionView
  staleAfterMs: number
  now: number
}

/** One exchange account: who it is, how fresh, what it holds, and what can be done about it. */
export function ConnectionRow({ connection, staleAfterMs, now }: ConnectionRowProps) {
  const detail = useConnection(connection.id)
  const syncNow = useSyncNow()
  const queryClient = useQueryClient()
  // The demo's key list says which keys are connected.
  const remove = useRemoveConnection({
    mutation: { onSuccess: () => queryClient.invalidateQueries({ queryKey: DEMO_STATE_KEY }) },
  })
  const [reconnecting, setReconnecting] = useState(false)
  // When the server will take a manual sync again, counted from when its refusal arrived (its Retry-After).
  const [throttledUntil, setThrottledUntil] = useState(0)
  const name = connection.label ?? exchangeName(connection.exchange)

  const throttle = isSyncApiError(syncNow.error) && syncNow.error.code === 'SYNC_THROTTLED'
  const waitMs = throttledUntil - now
  const throttled = throttle && waitMs > 0
  const startSync = () =>
    syncNow.mutate(connection.id, {
      onError: (error) => {
        if (isSyncApiError(error) && error.code === 'SYNC_THROTTLED') {
          setThrottledUntil(Date.now() + (error.retryAfterMs ?? 1_000))
        }
      },
    })

  return (
    <li className="connection" data-connection-id={connection.id} data-status={connection.status}>
      <div className="connection__head">
        <ExchangeLogo exchange={connection.exchange} />
        <div className="connection__title">
          <h3>{name}</h3>
          <p className="muted small">{exchangeName(connection.exchange)}</p>
        </div>
        <StalenessBadge
          syncedAt={connection.lastSyncAt}
          status={connection.status}
          staleAfterMs={staleAfterMs}
          data-testid="connection-badge"
        />
        <div className="connection__actions">
          <button
            type="button"
            className="button"
            aria-label={`Sync now: ${name}`}
            disabled={syncNow.isPending || throttled || connection.status === 'error'}
            onClick={startSync}
          >
            {syncNow.isPending ? 'Syncing…' : throttled ? `Wait ${formatSeconds(waitMs)}` : 'Sync now'}
          </button>
          <button
            type="button"
            className="button button--ghost"
            aria-label={`Remove ${name}`}
            disabled={remove.isPending}
            onClick={() => {
              if (
                window.confirm(`Remove ${name} (${exchangeName(connection.exchange)})? Its balances leave the sum.`)
              ) {
                remove.mutate(connection.id)
              }
            }}
          >
            Remove
          </button>
        </div>
      </div>

      <p className="connection__status small" data-testid="connection-status">
        <StatusLine connection={connection} now={now} />
      </p>
      {throttled && (
        <p className="inline-note small">Synced moments ago; manual syncs are limited to protect the rate limit.</p>
      )}
      {syncNow.data?.outcome === 'failure' && !syncNow.isPending && (
        <p className="inline-error small" role="alert">
          Sync failed: {syncErrorText(syncNow.data.error.code)} ({syncNow.data.error.code}).
        </p>
      )}
      {syncNow.isError && !throttle && (
        <p className="inline-error small" role="alert">
          Could not start a sync: {syncNow.error.message}
        </p>
      )}

      {detail.data && detail.data.balances.length > 0 && (
        <ul className="chips" aria-label={`Balances on ${name}`}>
          {detail.data.balances.map((balance) => (
            <li key={balance.asset} className="chip" data-asset={balance.asset}>
              <span className="chip__asset">{balance.asset}</span> {formatAmountText(balance.total)}
            </li>
          ))}
        </ul>
      )}

      {connection.status === 'error' &&
        (reconnecting ? (
          <ReconnectForm connection={connection} onDone={() => setReconnecting(false)} />
        ) : (
          <div className="connection__reconnect">
            <p className="small">
              {exchangeName(connection.exchange)} refused this API key. Create a new read-only key and reconnect; until
              then these balances are not updated.
            </p>
            <button type="button" className="button button--primary" onClick={() => setReconnecting(true)}>
              Reconnect
            </button>
          </div>
        ))}
    </li>
  )
}

function StatusLine({ connection, now }: { connection: ConnectionView; now: number }) {
  const { status, lastSyncAt, nextSyncAt, failureCount, lastError } = connection
  const synced =
    lastSyncAt === null
      ? 'Never synced'
      : now - lastSyncAt < 1_000
        ? 'Synced just now'
        : `Synced ${formatSeconds(now - lastSyncAt)} ago`
  const next = nextSyncAt === null || nextSyncAt <= now ? 'due now' : `in ${formatSeconds(nextSyncAt - now)}`
  if (status === 'error') {
    return (
      <>
        <span className="dot dot--error" />
        Not syncing: {syncErrorText(lastError?.code ?? 'AUTH_FAILED')} · {synced}
      </>
    )
  }
  if (status === 'paused') {
    return (
      <>
        <span className="dot" />
        Paused · {synced}
      </>
    )
  }
  if (failureCount > 0 && lastError) {
    return (
      <>
        <span className="dot dot--warning" />
        {failureCount} failed {failureCount === 1 ? 'attempt' : 'attempts'}: {syncErrorText(lastError.code)} · retry{' '}
        {next} · {synced}
      </>
    )
  }
  if (lastSyncAt === null) {
    return (
      <>
        <span className="dot dot--pending" />
        First sync {next === 'due now' ? 'in progress' : next}…
      </>
    )
  }
  return (
    <>
      <span className="dot dot--ok" />
      {synced} · next {next}
    </>
  )
}
