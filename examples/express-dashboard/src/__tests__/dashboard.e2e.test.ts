import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sumDecimals } from '@syncfolio/core'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Dashboard, DEMO_USER_ID, startDashboard } from '../server/startDashboard.js'

/*
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against the real server (Express,
 * the scheduler, real ccxt, the fake exchange over HTTP) and the UI built by Vite. Every wait is for a condition on
 * the page; none asserts how long anything took.
 */

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]
const inCi = process.env.CI === 'true'
const hasChromium = existsSync(CHROMIUM)
const ARTIFACTS = fileURLToPath(new URL('../../../../test-artifacts/', import.meta.url))
const VITE_CONFIG = fileURLToPath(new URL('../../vite.config.ts', import.meta.url))
/** How long a condition may take to come true on a slow machine; generous, it is not what the test measures. */
const WAIT_MS = 30_000

if (!hasChromium && inCi) {
  // In CI a missing browser is a failed test, never a silent skip.
  it('has Chromium to drive', () => {
    throw new Error(`The dashboard browser test needs Chromium at ${CHROMIUM} (apt-get install chromium).`)
  })
} else if (!hasChromium) {
  console.warn(`Skipping the dashboard browser test: no Chromium at ${CHROMIUM} (apt-get install chromium).`)
}

describe.skipIf(!hasChromium)('the dashboard in a real browser', () => {
  let uiDir: string
  let profileDir: string
  let browser: BrowserContext
  const dashboards: Dashboard[] = []

  beforeAll(async () => {
    uiDir = await mkdtemp(join(tmpdir(), 'syncfolio-dashboard-ui-'))
    profileDir = await mkdtemp(join(tmpdir(), 'syncfolio-dashboard-chromium-'))
    // Vitest sets NODE_ENV=test, which Vite would follow into React's development build and JSX transform: build
    // what `npm start` serves instead.
    const nodeEnv = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    try {
      await build({ configFile: VITE_CONFIG, logLevel: 'warn', build: { outDir: uiDir } })
    } finally {
      process.env.NODE_ENV = nodeEnv
    }
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    })
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all(dashboards.map((dashboard) => dashboard.close()))
    await Promise.all([uiDir, profileDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })))
  })

  /** Uncaught errors in each page, checked when its tests are done. */
  const pageErrors = new Map<Page, string[]>()

  async function open(dashboard: Dashboard): Promise<Page> {
    const page = await browser.newPage()
    page.setDefaultTimeout(WAIT_MS)
    const errors: string[] = []
    pageErrors.set(page, errors)
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(dashboard.url)
    return page
  }

  async function closePage(page: Page | undefined): Promise<void> {
    if (!page) return
    await page.close()
    expect(pageErrors.get(page)).toEqual([])
  }

  /** The Bitcoin total in the holdings table, as the exact decimal string behind its formatted text. */
  const renderedBtc = (page: Page) => page.locator('tr[data-asset="BTC"] .amount--total').getAttribute('data-value')

  /** The exact BTC sum of the store's balances: what the page must show once it is up to date. */
  async function storedBtc(dashboard: Dashboard): Promise<string> {
    const totals: string[] = []
    for (const connection of await dashboard.store.listByUser(DEMO_USER_ID)) {
      for (const balance of (await dashboard.store.getBalances(connection.id)) ?? []) {
        if (balance.asset === 'BTC') totals.push(balance.total)
      }
    }
    return sumDecimals(totals)
  }

  /** Waits until the BTC total on the page is no longer `before`, and returns the new one. */
  async function btcChange(page: Page, before: string | null): Promise<string | null> {
    await page.waitForFunction(
      (previous) =>
        document.querySelector('tr[data-asset="BTC"] .amount--total')?.getAttribute('data-value') !== previous,
      before,
    )
    return renderedBtc(page)
  }

  const badge = (page: Page, connectionId: string, state: string) =>
    page.locator(`[data-connection-id="${connectionId}"] [data-testid="connection-badge"][data-state="${state}"]`)

  describe('with minutes between background syncs, so every change on screen is one the test caused', () => {
    let dashboard: Dashboard
    let page: Page

    beforeAll(async () => {
      dashboard = await startDashboard({ port: 0, intervalMs: 600_000, staleAfterMs: 1_200_000, latencyMs: 20, uiDir })
      dashboards.push(dashboard)
      page = await open(dashboard)
      // The first sync of both accounts runs at startup; the holdings are fresh once both are in.
      await page.locator('[data-testid="holdings-badge"][data-state="fresh"]').waitFor()
      // A page reload would lose this; it is checked after each change.
      await page.evaluate(() => Object.assign(window, { notReloaded: true }))
    }, 60_000)

    afterAll(() => closePage(page))

    it('shows the summed balances of both accounts, exactly as stored, formatted for reading', async () => {
      const rendered = await renderedBtc(page)
      expect(rendered).toBe(await storedBtc(dashboard))
      const text = await page.locator('tr[data-asset="BTC"] .amount--total').textContent()
      // The exact string, trimmed of trailing zeros and padded back with lighter zeros for alignment.
      expect(text?.replace(/0+$/, '')).toBe(rendered!.replace(/0+$/, ''))
      for (const asset of ['BNB', 'BTC', 'ETH', 'SOL', 'USDC', 'USDT']) {
        await page.locator(`tr[data-asset="${asset}"]`).waitFor()
      }
      const connections = page.locator('[data-connection-id]')
      expect(await connections.count()).toBe(2)
      expect(await badge(page, dashboard.connections[0]!.id, 'fresh').count()).toBe(1)
      expect(await badge(page, dashboard.connections[1]!.id, 'fresh').count()).toBe(1)
    }, 60_000)

    it("charts every connection's age, one mark each, and each exchange's pause and budget from GET /health", async () => {
      const stored = await dashboard.store.listByUser(DEMO_USER_ID)
      const marks = page.locator('[data-testid="age-chart"] [data-testid="age-mark"]')
      await expect.poll(() => marks.count(), { timeout: WAIT_MS }).toBe(stored.length)
      for (const connection of stored) {
        const mark = marks.and(page.locator(`[data-age-of="${connection.id}"]`))
        expect(await mark.count()).toBe(1)
        // Synced at startup, minutes from stale: the bar says fresh.
        expect(await mark.getAttribute('data-state')).toBe('fresh')
      }
      await page.locator('[data-testid="health-status"][data-ok="true"]').waitFor()

      // Binance has one budget for the whole exchange: the page shows what the scheduler has left of it.
      const binance = page.locator('.exchange-health__item[data-exchange="binance"]')
      const serverBudget = () => String(dashboard.scheduler.health().exchanges.binance?.budgetLeft)
      await expect
        .poll(async () => (await binance.getAttribute('data-budget-left')) === serverBudget(), { timeout: WAIT_MS })
        .toBe(true)
      expect(Number(await binance.getAttribute('data-budget-left'))).toBeGreaterThan(0)
      expect(await binance.getByTestId('exchange-budget').textContent()).toMatch(/^Budget: [\d,.\s]+ weight left$/)
      expect(await binance.getByTestId('exchange-pause').textContent()).toBe('Not paused')
      // OKX limits each account on its own: no exchange-wide budget to show.
      const okx = page.locator('.exchange-health__item[data-exchange="okx"]')
      expect(await okx.getByTestId('exchange-budget').textContent()).toBe('No shared budget (limited per account)')
    }, 60_000)

    it('shows new balances after "Sync now", without a reload', async () => {
      const before = await renderedBtc(page)
      await page.getByRole('button', { name: 'Sync now: Main account' }).click()
      const after = await btcChange(page, before)
      expect(after).toBe(await storedBtc(dashboard))
      expect(await page.evaluate(() => 'notReloaded' in window)).toBe(true)
      await page.locator('.activity__item[data-type="sync:success"]', { hasText: 'Synced (manual)' }).first().waitFor()
    }, 60_000)

    it('shows a sync the page did not ask for through the live event stream, well before the next poll', async () => {
      const before = await renderedBtc(page)
      // The next background sync is minutes away and the next poll a minute: only the pushed sync:success event
      // can refresh the page within the wait.
      const outcome = await dashboard.scheduler.syncNow(dashboard.connections[1]!.id)
      expect(outcome.ok).toBe(true)
      const after = await btcChange(page, before)
      expect(after).toBe(await storedBtc(dashboard))
      expect(await page.evaluate(() => 'notReloaded' in window)).toBe(true)
    }, 60_000)

    it('refuses keys the exchange rejects inline, and adds a connection with keys it accepts', async () => {
      const form = page.locator('form', { has: page.getByRole('button', { name: 'Add connection' }) })
      await form.getByLabel('Exchange').selectOption('binance')
      await form.getByLabel('API key').fill('demo-binance-savings-key')
      await form.getByLabel('Secret').fill('not-the-secret')
      await form.getByRole('button', { name: 'Add connection' }).click()
      await form.getByRole('alert').filter({ hasText: 'Binance refused these keys' }).waitFor()
      expect(await dashboard.store.listByUser(DEMO_USER_ID)).toHaveLength(2)

      await form.getByRole('button', { name: 'Savings' }).click()
      await form.getByRole('button', { name: 'Add connection' }).click()
      await form.getByRole('status').filter({ hasText: 'Connected Savings on Binance' }).waitFor()
      const added = page.locator('[data-connection-id]', { hasText: 'Savings' })
      await added.locator('[data-testid="connection-badge"][data-state="fresh"]').waitFor()
      await page.getByText('Summed across 3 accounts').waitFor()
      await expect.poll(() => page.locator('[data-testid="age-mark"]').count(), { timeout: WAIT_MS }).toBe(3)
      await page.locator('[data-testid="holdings-badge"][data-state="fresh"]').waitFor()
      expect(await renderedBtc(page)).toBe(await storedBtc(dashboard))
      await mkdir(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-healthy.png'), fullPage: true })
    }, 60_000)
  })

  describe('with syncs every second and a 5 s staleness threshold', () => {
    let dashboard: Dashboard
    let page: Page
    let binance: string
    let okx: string

    beforeAll(async () => {
      dashboard = await startDashboard({ port: 0, intervalMs: 1_000, staleAfterMs: 5_000, latencyMs: 20, uiDir })
      dashboards.push(dashboard)
      binance = dashboard.connections.find(({ exchange }) => exchange === 'binance')!.id
      okx = dashboard.connections.find(({ exchange }) => exchange === 'okx')!.id
      page = await open(dashboard)
      await badge(page, binance, 'fresh').waitFor()
      await badge(page, okx, 'fresh').waitFor()
    }, 60_000)

    afterAll(() => closePage(page))

    it('keeps the balances moving on their own', async () => {
      const first = await renderedBtc(page)
      await btcChange(page, first)
      await btcChange(page, await renderedBtc(page))
    }, 60_000)

    it('marks a failing exchange stale past the threshold, while the other one stays fresh', async () => {
      await page.getByRole('button', { name: 'Simulate outage on Binance' }).click()
      await page.getByText('Outage: answering 503 maintenance').waitFor()
      const row = page.locator(`[data-connection-id="${binance}"]`)
      await row
        .getByTestId('connection-status')
        .filter({ hasText: /failed attempts?: the exchange is unavailable/ })
        .waitFor()
      await badge(page, binance, 'stale').waitFor()
      expect(await badge(page, binance, 'stale').locator('[role="status"]').textContent()).toBe('Stale')
      // OKX keeps syncing: isolation, not a general outage.
      await badge(page, okx, 'fresh').waitFor()
      await page.locator('[data-testid="holdings-badge"][data-state="stale"]').waitFor()
    }, 60_000)

    it('shows the error state after a key is revoked, with a way to reconnect', async () => {
      await page.getByRole('button', { name: 'Revoke key of Trading (OKX)' }).click()
      await badge(page, okx, 'error').waitFor()
      const row = page.locator(`[data-connection-id="${okx}"]`)
      expect(await row.getAttribute('data-status')).toBe('error')
      expect(await badge(page, okx, 'error').locator('[role="status"]').textContent()).toBe('Reconnect needed')
      await row.getByRole('button', { name: 'Reconnect' }).waitFor()
      await mkdir(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    }, 60_000)

    it('is fresh again after the outage ends and the key is reconnected', async () => {
      await page.getByRole('button', { name: 'Recover Binance' }).click()
      await page.getByRole('button', { name: 'Simulate outage on Binance' }).waitFor()
      // The connection is in backoff; a manual sync retries at once.
      await page.getByRole('button', { name: 'Sync now: Main account' }).click()
      await badge(page, binance, 'fresh').waitFor()

      await page.getByRole('button', { name: 'Restore key of Trading (OKX)' }).click()
      const row = page.locator(`[data-connection-id="${okx}"]`)
      await row.getByRole('button', { name: 'Reconnect' }).click()
      const form = row.getByRole('form', { name: 'Reconnect with new keys' })
      await form.getByRole('button', { name: 'Trading' }).click()
      await form.getByRole('button', { name: 'Reconnect' }).click()
      await badge(page, okx, 'fresh').waitFor()
      expect(await row.getAttribute('data-status')).toBe('active')
      await page.locator('[data-testid="holdings-badge"][data-state="fresh"]').waitFor()
    }, 60_000)
  })
})
