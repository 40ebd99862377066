import { useConnections } from '@syncfolio/react'
import { useNow } from '../format/useNow.js'
import { ConnectionRow } from './ConnectionRow.js'

/** The user's exchange accounts with their sync status, one row each. */
export function ConnectionsCard({ staleAfterMs }: { staleAfterMs: number }) {
  const connections = useConnections()
  // One ticking clock for every row's "synced 4 s ago · next in 6 s".
  const now = useNow()
  return (
    <section className="card" aria-labelledby="connections-title">
      <div className="card__header">
        <div>
          <h2 id="connections-title">Connections</h2>
          <p className="muted small">Synced in the background, inside each exchange's rate limits.</p>
        </div>
      </div>
      {connections.isPending && <p className="placeholder">Loading connections…</p>}
      {connections.isError && (
        <p className="notice notice--error" role="alert">
          Could not load your connections. We will try again.
        </p>
      )}
      {connections.data?.length === 0 && (
        <p className="placeholder">No exchange connected yet. Add one with your read-only API key.</p>
      )}
      {connections.data && connections.data.length > 0 && (
        <ul className="connections">
          {connections.data.map((connection) => (
            <ConnectionRow key={connection.id} connection={connection} staleAfterMs={staleAfterMs} now={now} />
          ))}
        </ul>
      )}
    </section>
  )
}
