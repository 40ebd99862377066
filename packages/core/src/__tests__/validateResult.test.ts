import { describe, expect, it } from 'vitest'
import { validateResult } from '../balances/validateResult.js'

const good = { asset: 'BTC', free: '1.5', used: '0', total: '1.5' }

describe('validateResult', () => {
  it('returns a clean copy of a valid result', () => {
    const input = { balances: [{ ...good, extra: 'dropped' }], usage: { usedWeight: 40 } }
    expect(validateResult(input)).toEqual({ balances: [good], usage: { usedWeight: 40 } })
  })

  it.each([
    [null, 'expected an object'],
    ['{"balances": []}', 'expected an object'],
    [{}, '"balances" is not an array'],
    [{ balances: [null] }, 'balances[0] is not an object'],
    [{ balances: [{ ...good, asset: '' }] }, 'balances[0].asset'],
    [{ balances: [good, { ...good, free: 1.5 }] }, 'balances[1].free is not a decimal string (number)'],
    [
      { balances: [{ ...good, total: '1e-8' }] },
      'balances[0].total is not a decimal string (a string of 4 characters)',
    ],
    [{ balances: [{ ...good, used: undefined }] }, 'balances[0].used'],
    [{ balances: [], usage: { usedWeight: -1 } }, 'usage.usedWeight'],
  ])('rejects %j as INVALID_RESPONSE naming what is wrong', (input, message) => {
    expect(() => validateResult(input)).toThrow(expect.objectContaining({ code: 'INVALID_RESPONSE' }))
    expect(() => validateResult(input)).toThrow(message)
  })

  it('never quotes a value from the response: an echoed key says only its type and length', () => {
    const echoed = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A'
    const attempt = () => validateResult({ balances: [{ ...good, free: echoed }] })
    expect(attempt).toThrow('balances[0].free is not a decimal string (a string of 64 characters)')
    expect(attempt).not.toThrow(echoed.slice(0, 8))
  })
})
