import '@syncfolio/react/styles.css'
import './styles.css'
import { SyncfolioProvider } from '@syncfolio/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './App.js'

const queryClient = new QueryClient()

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SyncfolioProvider baseUrl="/api/syncfolio">
        <App />
      </SyncfolioProvider>
    </QueryClientProvider>
  </StrictMode>,
)
