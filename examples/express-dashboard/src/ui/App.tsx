import { useLiveUpdates } from '@syncfolio/react'
import { useRef, useState } from 'react'
import { ActivityCard, type ActivityEntry } from './components/ActivityCard.js'
import { AddConnectionCard } from './components/AddConnectionCard.js'
import { ConnectionsCard } from './components/ConnectionsCard.js'
import { DemoControlsCard } from './components/DemoControlsCard.js'
import { FreshnessCard } from './components/FreshnessCard.js'
import { Header } from './components/Header.js'
import { HoldingsCard } from './components/HoldingsCard.js'
import { useDemoState } from './demo/useDemoState.js'
import { formatSeconds } from './format/formatSeconds.js'

/** How many sync events the activity card keeps. */
const ACTIVITY_SIZE = 6

export function App() {
  const demo = useDemoState()
  const [activity, setActivity] = useState<ActivityEntry[]>([])
  const nextId = useRef(0)
  // Sync events refresh the queries the moment a sync ends; polling stays on as the fallback.
  useLiveUpdates({
    onEvent: (event) => {
      // A sync that disables its connection is followed by connection:disabled, which says it better.
      if (event.type === 'sync:start' || (event.type === 'sync:failure' && event.disabled)) return
      const entry = { id: nextId.current++, event, at: Date.now() }
      setActivity((entries) => [entry, ...entries].slice(0, ACTIVITY_SIZE))
    },
  })

  return (
    <>
      <Header />
      <main className="page">
        <div className="page__intro">
          <div>
            <h1>Portfolio</h1>
            <p className="muted">Balances across your exchange accounts, kept fresh in the background.</p>
          </div>
          {demo.data && (
            <p className="demo-pill" title="Demo settings; the library's default threshold is 5 minutes">
              Demo: syncs every {formatSeconds(demo.data.intervalMs)}, stale after{' '}
              {formatSeconds(demo.data.staleAfterMs)}
            </p>
          )}
        </div>
        {demo.isError && (
          <p className="notice notice--error" role="alert">
            The demo server did not answer ({demo.error.message}). Is it running?
          </p>
        )}
        {demo.data && (
          <div className="layout">
            <div className="layout__main">
              <HoldingsCard staleAfterMs={demo.data.staleAfterMs} />
              <ConnectionsCard staleAfterMs={demo.data.staleAfterMs} />
              <FreshnessCard staleAfterMs={demo.data.staleAfterMs} />
              <ActivityCard events={activity} intervalMs={demo.data.intervalMs} />
            </div>
            <aside className="layout__side">
              <AddConnectionCard demoKeys={demo.data.keys} />
              <DemoControlsCard state={demo.data} />
            </aside>
          </div>
        )}
      </main>
    </>
  )
}
