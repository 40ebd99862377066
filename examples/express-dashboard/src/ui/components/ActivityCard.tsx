import { type SyncEvent, useConnections } from '@syncfolio/react'
import { describeSyncEvent } from '../format/describeSyncEvent.js'
import { exchangeName } from '../format/names.js'
import { useNow } from '../format/useNow.js'

export interface ActivityEntry {
  id: number
  event: SyncEvent
  /** When the browser received it. */
  at: number
}

const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

export interface ActivityCardProps {
  events: readonly ActivityEntry[]
  /** The scheduler's interval: with connections, an event is due at least this often. */
  intervalMs: number
}

/** The latest sync events, as the server pushed them; each one has already refreshed what it changed. */
export function ActivityCard({ events, intervalMs }: ActivityCardProps) {
  const connections = useConnections()
  const now = useNow()
  // Claims "Live" only while events keep coming; the stream's own state is not exposed, its effect is.
  const lastAt = events[0]?.at
  const live = lastAt !== undefined && now - lastAt < 2 * intervalMs + 5_000
  const labelOf = (id: string, exchange: string) =>
    connections.data?.find((connection) => connection.id === id)?.label ?? exchangeName(exchange)

  return (
    <section className="card" aria-labelledby="activity-title">
      <div className="card__header">
        <div>
          <h2 id="activity-title">Live activity</h2>
          <p className="muted small">Sync events pushed by the server as they happen.</p>
        </div>
        <span className="live" data-live={live} aria-hidden="true">
          <span className="live__dot" /> {live ? 'Live' : 'Quiet'}
        </span>
      </div>
      {events.length === 0 ? (
        <p className="placeholder">Waiting for the next sync…</p>
      ) : (
        <ol className="activity">
          {events.map(({ id, event, at }) => (
            <li key={id} className="activity__item" data-type={event.type}>
              <span className={`dot ${event.type === 'sync:success' ? 'dot--ok' : 'dot--error'}`} />
              <span className="activity__text">
                <strong>{labelOf(event.connectionId, event.exchange)}</strong>{' '}
                <span className="muted">· {exchangeName(event.exchange)}</span>
                <br />
                <span className="small">{describeSyncEvent(event)}</span>
              </span>
              <time className="small muted" dateTime={new Date(at).toISOString()}>
                {TIME.format(at)}
              </time>
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
