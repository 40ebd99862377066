import { RedisLimiterError } from './redisLimiterError.js'

/** What a limiter script answered, checked: every number finite (a refusal's time may be Infinity), every word known. */
export interface ScriptReply {
  outcome: 'grant' | 'budget' | 'retry-after' | 'paused' | 'none'
  /** The refusal's `retryAt`, or the pause a settlement set. */
  at: number | undefined
  scope: 'exchange' | 'account' | undefined
  /** The exchange's pause (this egress), when it lasts past the call's `now`. */
  pausedUntil: number | null
  /** Accounts of the exchange paused at the call's `now`. */
  pausedAccounts: number
  /** Per budget, by index. */
  budgets: BudgetReply[]
}

export interface BudgetReply {
  /** Exchange scope: the weight the window counted at the call's `now`. */
  used: number | undefined
  /** Exchange scope, clock-aligned: the window that count belongs to. */
  windowStart: number | undefined
  /** A grant of a clock-aligned budget: its window, and our own weight counted in it before the grant. */
  grantStart: number | undefined
  grantOwn: number | undefined
}

const OUTCOMES = {
  acquire: ['grant', 'budget', 'retry-after'],
  settle: ['paused', 'none'],
} as const

/** Reads a script's reply; anything malformed is an INVALID_REPLY error naming the field and what came. */
export function parseReply(script: 'acquire' | 'settle', raw: unknown, budgetCount: number): ScriptReply {
  const fail = (field: string, value: unknown): never => {
    throw new RedisLimiterError(
      'INVALID_REPLY',
      `The ${script} script answered ${describe(value)} for ${field}; the reply was ignored.`,
    )
  }
  const length = 5 + 4 * budgetCount
  if (!Array.isArray(raw) || raw.length !== length) return fail(`a reply of ${length} fields`, raw)
  const field = (index: number): string => {
    const value = raw[index] as unknown
    return typeof value === 'string' ? value : fail(`field ${index + 1}`, value)
  }
  const optionalNumber = (index: number, name: string): number | undefined => {
    const text = field(index)
    if (text === '') return undefined
    const value = Number(text)
    return Number.isFinite(value) ? value : fail(name, text)
  }

  const outcome = field(0)
  if (!(OUTCOMES[script] as readonly string[]).includes(outcome)) fail('the outcome', outcome)
  const kind = outcome as ScriptReply['outcome']
  const needsTime = kind === 'budget' || kind === 'retry-after' || kind === 'paused'
  let at: number | undefined
  const atText = field(1)
  // A cost above a budget's limit never fits: the in-process limiter answers Infinity too.
  if (kind === 'budget' && atText === 'inf') at = Number.POSITIVE_INFINITY
  else at = optionalNumber(1, needsTime ? 'the time' : 'the time of a grant')
  if (needsTime !== (at !== undefined)) fail('the time', atText)
  const scopeText = field(2)
  if (needsTime ? scopeText !== 'exchange' && scopeText !== 'account' : scopeText !== '') fail('the scope', scopeText)
  const pausedUntil = optionalNumber(3, "the exchange's pause") ?? null
  const pausedAccounts = Number(field(4))
  if (!Number.isSafeInteger(pausedAccounts) || pausedAccounts < 0) fail('the paused accounts', raw[4])

  const budgets: BudgetReply[] = []
  for (let index = 0; index < budgetCount; index++) {
    const at = 5 + 4 * index
    budgets.push({
      used: optionalNumber(at, `budget ${index}'s count`),
      windowStart: optionalNumber(at + 1, `budget ${index}'s window`),
      grantStart: optionalNumber(at + 2, `budget ${index}'s grant window`),
      grantOwn: optionalNumber(at + 3, `budget ${index}'s own weight`),
    })
  }
  return {
    outcome: kind,
    at,
    scope: needsTime ? (scopeText as 'exchange' | 'account') : undefined,
    pausedUntil,
    pausedAccounts,
    budgets,
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return value === null || typeof value !== 'object' ? String(value) : 'an object'
}
