import { type ConnectionView, useConnections } from '@syncfolio/react'
import { formatSeconds } from '../format/formatSeconds.js'
import { exchangeName } from '../format/names.js'
import { useNow } from '../format/useNow.js'
import { useHealth } from '../health/useHealth.js'

/** Geometry of the age chart, in SVG user units; the chart scales to the card's width. */
const WIDTH = 600
const ROW = 28
const LABEL = 140
const AGE_TEXT = 64
const PLOT = WIDTH - LABEL - AGE_TEXT

type Freshness = 'fresh' | 'stale' | 'error' | 'never'

export interface FreshnessCardProps {
  staleAfterMs: number
}

/**
 * How fresh every connection is, as a bar of its age against the staleness threshold, and how each exchange is
 * doing: its pause and what is left of its budget. Fed by `GET /health` and the connection list.
 */
export function FreshnessCard({ staleAfterMs }: FreshnessCardProps) {
  const connections = useConnections()
  const health = useHealth()
  const now = useNow()
  const list = connections.data ?? []
  const ages = list.map((connection) => ageOf(connection, now))
  // The scale fits the oldest connection, and always shows the threshold with room past it.
  const scaleMs = Math.max(staleAfterMs * 1.5, ...ages.map((age) => age ?? 0))
  const x = (ms: number) => LABEL + (Math.min(ms, scaleMs) / scaleMs) * PLOT
  const height = Math.max(1, list.length) * ROW + 20

  return (
    <section className="card" aria-labelledby="freshness-title">
      <div className="card__header">
        <div>
          <h2 id="freshness-title">Freshness</h2>
          <p className="muted small">Age of every connection's balances, and each exchange's pause and budget.</p>
        </div>
        {health.data && (
          <span
            className={`health-pill ${health.data.ok ? 'health-pill--ok' : 'health-pill--error'}`}
            data-testid="health-status"
            data-ok={health.data.ok}
          >
            <span className={`dot ${health.data.ok ? 'dot--ok' : 'dot--error'}`} />{' '}
            {health.data.ok ? 'Healthy' : health.data.store.ok ? 'Sweeps stalled' : 'Store failing'}
          </span>
        )}
      </div>

      {list.length === 0 ? (
        <p className="placeholder">No connection to chart yet.</p>
      ) : (
        <svg
          className="age-chart"
          viewBox={`0 0 ${WIDTH} ${height}`}
          role="img"
          aria-labelledby="age-chart-title"
          data-testid="age-chart"
        >
          <title id="age-chart-title">
            Age of each connection's balances; the dashed line is the staleness threshold of{' '}
            {formatSeconds(staleAfterMs)}
          </title>
          <line className="age-chart__threshold" x1={x(staleAfterMs)} x2={x(staleAfterMs)} y1={0} y2={height - 16} />
          <text className="age-chart__axis" x={x(staleAfterMs)} y={height - 4} textAnchor="middle">
            stale after {formatSeconds(staleAfterMs)}
          </text>
          {list.map((connection, index) => {
            const age = ages[index] ?? null
            const state = freshnessOf(connection, age, staleAfterMs)
            const y = index * ROW
            const name = connection.label ?? exchangeName(connection.exchange)
            const ageText = age === null ? 'never' : formatSeconds(age)
            return (
              <g key={connection.id} data-testid="age-mark" data-age-of={connection.id} data-state={state}>
                <title>
                  {name} ({exchangeName(connection.exchange)}):{' '}
                  {age === null ? 'never synced' : `synced ${ageText} ago`}
                </title>
                <text className="age-chart__label" x={LABEL - 8} y={y + ROW / 2 + 4} textAnchor="end">
                  {name}
                </text>
                <rect className="age-chart__track" x={LABEL} y={y + 6} width={PLOT} height={ROW - 12} rx={4} />
                <rect
                  className={`age-chart__bar age-chart__bar--${state}`}
                  x={LABEL}
                  y={y + 6}
                  // A connection never synced gets a sliver, so every connection has a visible mark.
                  width={Math.max(4, (age === null ? 0 : x(age)) - LABEL)}
                  height={ROW - 12}
                  rx={4}
                />
                <text className="age-chart__age" x={WIDTH - 4} y={y + ROW / 2 + 4} textAnchor="end">
                  {ageText}
                </text>
              </g>
            )
          })}
        </svg>
      )}

      {health.isError && (
        <p className="notice notice--error" role="alert">
          The health check did not answer ({health.error.message}).
        </p>
      )}
      {health.data && (
        <ul className="exchange-health">
          {Object.entries(health.data.exchanges).map(([id, exchange]) => {
            const pausedFor = exchange.pausedUntil === null ? 0 : exchange.pausedUntil - now
            return (
              <li
                key={id}
                className="exchange-health__item"
                data-exchange={id}
                data-paused={pausedFor > 0}
                data-budget-left={exchange.budgetLeft ?? ''}
              >
                <strong>{exchangeName(id)}</strong>
                <span className={pausedFor > 0 ? 'small text-error' : 'small muted'} data-testid="exchange-pause">
                  {pausedFor > 0 ? `Paused for ${formatSeconds(pausedFor)}` : 'Not paused'}
                </span>
                <span className="small" data-testid="exchange-budget">
                  {exchange.budgetLeft === null
                    ? 'No shared budget (limited per account)'
                    : `Budget: ${exchange.budgetLeft.toLocaleString()} weight left`}
                </span>
                <span className="small muted">
                  {exchange.inFlight} syncing · {exchange.queued} queued
                </span>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}

/** Time since the last successful sync; null when there never was one. */
function ageOf(connection: ConnectionView, now: number): number | null {
  return connection.lastSyncAt === null ? null : Math.max(0, now - connection.lastSyncAt)
}

function freshnessOf(connection: ConnectionView, age: number | null, staleAfterMs: number): Freshness {
  if (connection.status === 'error') return 'error'
  if (age === null) return 'never'
  return age > staleAfterMs ? 'stale' : 'fresh'
}
