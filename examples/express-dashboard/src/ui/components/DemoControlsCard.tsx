import type { DemoState } from '../../shared/demoStateSchema.js'
import { useDemoControl } from '../demo/useDemoControl.js'
import { formatSeconds } from '../format/formatSeconds.js'
import { exchangeName } from '../format/names.js'
import { ExchangeLogo } from './ExchangeLogo.js'

/**
 * Demo-only: breaks the local fake exchange on purpose, so the dashboard's failure states can be seen. An outage is
 * transient (syncfolio backs off and keeps trying; the badge turns stale); a revoked key is permanent (the
 * connection waits for new keys).
 */
export function DemoControlsCard({ state }: { state: DemoState }) {
  const control = useDemoControl()
  return (
    <section className="card card--demo" aria-labelledby="demo-title">
      <div className="card__header">
        <div>
          <h2 id="demo-title">Demo controls</h2>
          <p className="muted small">These act on the local fake exchange, not on syncfolio.</p>
        </div>
      </div>

      <h3 className="subheading">Exchanges</h3>
      <ul className="control-list">
        {state.exchanges.map(({ id, failing }) => {
          const name = exchangeName(id)
          return (
            <li key={id} className="control" data-exchange={id}>
              <ExchangeLogo exchange={id} />
              <div className="control__text">
                <strong>{name}</strong>
                <span className={failing ? 'small text-error' : 'small muted'}>
                  {failing ? 'Outage: answering 503 maintenance' : 'Operating normally'}
                </span>
              </div>
              {failing ? (
                <button
                  type="button"
                  className="button button--small"
                  aria-label={`Recover ${name}`}
                  disabled={control.isPending}
                  onClick={() => control.mutate(`exchanges/${id}/recover`)}
                >
                  Recover
                </button>
              ) : (
                <button
                  type="button"
                  className="button button--small button--danger"
                  aria-label={`Simulate outage on ${name}`}
                  disabled={control.isPending}
                  onClick={() => control.mutate(`exchanges/${id}/fail`)}
                >
                  Simulate outage
                </button>
              )}
            </li>
          )
        })}
      </ul>

      <h3 className="subheading">API keys</h3>
      <ul className="control-list">
        {state.keys.map((key) => {
          const name = `${key.label} (${exchangeName(key.exchange)})`
          return (
            <li key={key.id} className="control" data-key={key.id}>
              <ExchangeLogo exchange={key.exchange} />
              <div className="control__text">
                <strong>{key.label}</strong>
                <span className={key.revoked ? 'small text-error' : 'small muted'}>
                  {key.revoked ? 'Revoked at the exchange' : key.connected ? 'Connected' : 'Not connected'}
                </span>
              </div>
              {key.revoked ? (
                <button
                  type="button"
                  className="button button--small"
                  aria-label={`Restore key of ${name}`}
                  disabled={control.isPending}
                  onClick={() => control.mutate(`keys/${key.id}/restore`)}
                >
                  Restore key
                </button>
              ) : (
                <button
                  type="button"
                  className="button button--small button--danger"
                  aria-label={`Revoke key of ${name}`}
                  disabled={control.isPending}
                  onClick={() => control.mutate(`keys/${key.id}/revoke`)}
                >
                  Revoke key
                </button>
              )}
            </li>
          )
        })}
      </ul>
      {control.isError && (
        <p className="notice notice--error" role="alert">
          {control.error.message}
        </p>
      )}
      <p className="muted small demo-note">
        Syncs every {formatSeconds(state.intervalMs)}; badges turn stale after {formatSeconds(state.staleAfterMs)} (demo
        setting; syncfolio's default is 5 min). A restored key still needs a Reconnect: the connection waits for keys
        the exchange accepts.
      </p>
    </section>
  )
}
