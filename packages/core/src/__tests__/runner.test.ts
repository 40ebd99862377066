import { describe, expect, it } from 'vitest'
import * as main from '../index.js'
import * as runner from '../runner/index.js'

const RUNNER_PIECES = [
  'Dispatcher',
  'EventBus',
  'Lifecycle',
  'StoreCalls',
  'SweepReader',
  'SyncRunner',
  'pickLane',
  'draftConnection',
  'freshConnection',
  'parseOptions',
  'unlimited',
  'validateResult',
  'withoutUndefined',
] as const

describe('entry points', () => {
  it('keeps runner pieces off the main entry: the public surface is what the docs describe', () => {
    for (const name of RUNNER_PIECES) expect(Object.keys(main)).not.toContain(name)
  })

  it('serves them from @syncfolio/core/runner', () => {
    const served = Object.entries(runner).filter(([, value]) => value !== undefined && value !== null)
    expect(served.map(([name]) => name)).toEqual(expect.arrayContaining([...RUNNER_PIECES]))
  })
})
