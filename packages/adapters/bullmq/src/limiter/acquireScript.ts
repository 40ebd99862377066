import { WINDOWS_LUA } from './windowsLua.js'

/**
 * One atomic acquire across every scope of an exchange, as `BudgetLimiter.acquire`: the exchange's pause, then the
 * account's, then every budget; the cost is charged to every budget at once, or, when one refuses, to none.
 * Replies `grant`, `budget` or `retry-after` with the time asking again may succeed and the scope that refused.
 */
export const ACQUIRE_SCRIPT = `${WINDOWS_LUA}
local exchange_pause = pause_until(KEYS[1])
if exchange_pause and exchange_pause > now then return finish('retry-after', exchange_pause, 'exchange') end
local account_pause = pause_until(KEYS[2])
if account_pause and account_pause > now then return finish('retry-after', account_pause, 'account') end

local retry_at = now
local scope = 'exchange'
for _, b in ipairs(budgets) do
  local fits
  if b.clock then fits = aligned_fits(b) else fits = sliding_fits(b) end
  if fits > retry_at then
    retry_at = fits
    if b.exchange then scope = 'exchange' else scope = 'account' end
  end
end
if retry_at > now then return finish('budget', retry_at, scope) end

for _, b in ipairs(budgets) do
  if b.clock then aligned_add(b, cost) else sliding_add(b, cost) end
end
return finish('grant', nil, nil)
`
