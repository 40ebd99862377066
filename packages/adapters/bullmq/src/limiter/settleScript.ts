import { WINDOWS_LUA } from './windowsLua.js'

/**
 * How a granted sync ended, as `BudgetLimiter.settle`: a reported `usedWeight` re-aligns every exchange-scope
 * budget (a clock window learns the weight spent outside syncfolio, a sliding one is raised to the count); a
 * RATE_LIMITED result pauses the scope it names, for the Retry-After or else the doubling backoff; a success
 * forgets pauses that are over, and with them their strikes.
 *
 * ARGV after the budgets: result, usedWeight ('' when none), the scope to pause, retryAfterMs ('' when none), the
 * first backoff, the longest backoff, the account (its member in the index of paused accounts), and when the grant
 * was made ('' when unknown).
 */
export const SETTLE_SCRIPT = `${WINDOWS_LUA}
local result = ARGV[next_arg]
local used_weight = tonumber(ARGV[next_arg + 1])
local pause_scope = ARGV[next_arg + 2]
local retry_after = tonumber(ARGV[next_arg + 3])
local backoff = tonumber(ARGV[next_arg + 4])
local max_backoff = tonumber(ARGV[next_arg + 5])
local account = ARGV[next_arg + 6]
local granted_at = tonumber(ARGV[next_arg + 7])

if used_weight then
  for _, b in ipairs(budgets) do
    if b.exchange then
      if b.clock then aligned_observe(b, cost, used_weight, granted_at) else sliding_align(b, used_weight) end
    end
  end
end

if result == 'rate-limited' then
  local key = KEYS[1]
  if pause_scope == 'account' then key = KEYS[2] end
  local v = redis.call('HMGET', key, 'until', 'strikes')
  local paused = tonumber(v[1]) or 0
  local strikes = (tonumber(v[2]) or 0) + 1
  local wait = retry_after
  if not wait then wait = math.min(max_backoff, backoff * 2 ^ math.min(strikes - 1, 20)) end
  paused = math.max(paused, now + wait)
  redis.call('HSET', key, 'until', num(paused), 'strikes', strikes)
  -- A pause long over, by more than the longest backoff, no longer says anything about the next one.
  expire_in(key, paused - now + max_backoff)
  if pause_scope == 'account' then
    redis.call('ZADD', KEYS[3], num(paused), account)
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', num(now))
    local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
    if #last > 0 then expire_in(KEYS[3], tonumber(last[2]) - now) end
  end
  return finish('paused', paused, pause_scope)
end

if result == 'ok' then
  local exchange_pause = pause_until(KEYS[1])
  if exchange_pause and exchange_pause <= now then redis.call('DEL', KEYS[1]) end
  local account_pause = pause_until(KEYS[2])
  if account_pause and account_pause <= now then
    redis.call('DEL', KEYS[2])
    redis.call('ZREM', KEYS[3], account)
  end
end
return finish('none', nil, nil)
`
