/**
 * The Lua both limiter scripts start with: the arguments every call passes, and the two kinds of window, written
 * step for step as the core's `SlidingWindow` and `AlignedWindow` so a budget kept in Redis answers as the
 * in-process one does. Numbers cross Redis as strings printed with 17 significant digits, so a double survives the
 * round trip exactly (Redis would cut a Lua number in a reply to an integer).
 *
 * KEYS: [1] the exchange's pause (this egress), [2] the account's pause, [3] the exchange's index of paused
 * accounts, then per budget its state hash and its log (a sorted set; sliding windows only).
 * ARGV: [1] now, [2] cost, [3] how long exchange-scope state that learned outside weight is kept idle (ms),
 * [4] the number of budgets, then per budget: limit, windowMs, align, scope, and (settle only) where the grant
 * stood in a clock window: its window start and the own weight before it. What follows is the script's own.
 */
export const WINDOWS_LUA = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local idle_ttl = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local PACE_AHEAD = 0.25

local function num(x)
  if x == math.huge then return 'inf' end
  if x == -math.huge then return '-inf' end
  return string.format('%.17g', x)
end

local function expire_in(key, ms)
  redis.call('PEXPIRE', key, math.max(1, math.ceil(ms)))
end

local budgets = {}
local next_arg = 5
for i = 1, count do
  budgets[i] = {
    state = KEYS[2 + 2 * i],
    log = KEYS[3 + 2 * i],
    limit = tonumber(ARGV[next_arg]),
    w = tonumber(ARGV[next_arg + 1]),
    clock = ARGV[next_arg + 2] == 'clock',
    exchange = ARGV[next_arg + 3] == 'exchange',
    mark_start = tonumber(ARGV[next_arg + 4]),
    mark_own = tonumber(ARGV[next_arg + 5]),
  }
  next_arg = next_arg + 6
end

-- Clock-aligned windows (AlignedWindow) --------------------------------------------------------------------------

local function aligned(b)
  if b.s then return b.s end
  local v = redis.call('HMGET', b.state, 'start', 'own', 'outside', 'seen', 'expected')
  b.s = {
    start = tonumber(v[1]) or -math.huge,
    own = tonumber(v[2]) or 0,
    outside = tonumber(v[3]) or 0,
    seen = tonumber(v[4]) or 0,
    expected = tonumber(v[5]) or 0,
    dirty = false,
  }
  return b.s
end

local function pace(b, s)
  local elapsed = s.seen - s.start
  if elapsed >= b.w / 4 then return (s.outside / elapsed) * b.w end
  return s.outside
end

local function roll(b)
  local s = aligned(b)
  local start = math.floor(now / b.w) * b.w
  -- A worker whose clock runs a little behind counts into the window the others opened, never rolls it back:
  -- two clocks taking turns would each find a fresh window, and together spend the budget twice.
  if start <= s.start then return s end
  -- A window skipped entirely saw no outside weight we know of; the last one seen still guides the next.
  if start == s.start + b.w then s.expected = pace(b, s) end
  s.start = start
  s.own = 0
  s.outside = 0
  s.seen = start
  s.dirty = true
  return s
end

local function aligned_fits(b)
  if cost > b.limit then return math.huge end
  local s = roll(b)
  local finish = s.start + b.w
  local own_cap = b.limit - math.max(math.max(s.expected, pace(b, s)), s.outside)
  if s.own + cost > own_cap then return finish end
  if s.outside == 0 and s.expected == 0 then return now end
  local wanted = (s.own + cost) / own_cap - PACE_AHEAD
  local at = s.start + math.ceil(wanted * b.w)
  if at <= now then return now end
  return math.min(at, finish)
end

local function aligned_add(b, weight)
  local s = roll(b)
  b.granted_start = s.start
  b.granted_own = s.own
  s.own = s.own + weight
  s.dirty = true
end

local function aligned_observe(b, weight, reported, mark_at)
  local s = roll(b)
  local grant = b.mark_start ~= nil and b.mark_own ~= nil and mark_at ~= nil
  -- Answered in the next window: its count says nothing of this one.
  if grant and b.mark_start ~= s.start then return end
  local outside
  if grant then outside = reported - b.mark_own - weight else outside = reported - s.own end
  if outside > s.outside then
    s.outside = outside
    if grant then s.seen = mark_at else s.seen = now end
    s.dirty = true
  end
end

-- What the window counts now, without rolling it: a roll is part of the in-process semantics only where the
-- in-process limiter rolls (an acquire that reaches the budgets, a settle with usedWeight).
local function aligned_peek(b)
  local s = aligned(b)
  local start = math.floor(now / b.w) * b.w
  if s.start < start then return 0, start end
  return s.own + s.outside, s.start
end

local function aligned_save(b)
  local s = b.s
  if not s or not s.dirty then return end
  redis.call('HSET', b.state, 'start', num(s.start), 'own', num(s.own), 'outside', num(s.outside),
    'seen', num(s.seen), 'expected', num(s.expected))
  -- Until its window ends the state is the count; past that only learned outside weight says anything.
  local ms = s.start + b.w - now
  if s.outside > 0 or s.expected > 0 then ms = math.max(idle_ttl, s.start + 2 * b.w - now) end
  expire_in(b.state, ms)
end

-- Sliding windows (SlidingWindow): a log of grants, member "seq:weight" scored by time, and their sum ----------

local function sliding(b)
  if b.s then return b.s end
  local v = redis.call('HMGET', b.state, 'sum', 'seq')
  b.s = { sum = tonumber(v[1]) or 0, seq = tonumber(v[2]) or 0, dirty = false }
  return b.s
end

local function weight_of(member)
  return tonumber(string.match(member, ':(.+)$'))
end

local function expire(b)
  local s = sliding(b)
  -- One call has one now: what expired at it stays expired.
  if s.expired then return s end
  s.expired = true
  local cutoff = num(now - b.w)
  local old = redis.call('ZRANGEBYSCORE', b.log, '-inf', cutoff)
  if #old > 0 then
    for _, member in ipairs(old) do s.sum = s.sum - weight_of(member) end
    redis.call('ZREMRANGEBYSCORE', b.log, '-inf', cutoff)
    s.dirty = true
  end
  if s.sum ~= 0 and redis.call('ZCARD', b.log) == 0 then
    s.sum = 0
    s.dirty = true
  end
  return s
end

local function sliding_fits(b)
  if cost > b.limit then return math.huge end
  local s = expire(b)
  local excess = s.sum + cost - b.limit
  if excess <= 0 then return now end
  local offset = 0
  while true do
    local batch = redis.call('ZRANGE', b.log, offset, offset + 255, 'WITHSCORES')
    if #batch == 0 then return math.huge end
    for j = 1, #batch, 2 do
      excess = excess - weight_of(batch[j])
      if excess <= 0 then return tonumber(batch[j + 1]) + b.w end
    end
    offset = offset + 256
  end
end

local function sliding_add(b, weight)
  local s = expire(b)
  s.seq = s.seq + 1
  redis.call('ZADD', b.log, num(now), s.seq .. ':' .. num(weight))
  s.sum = s.sum + weight
  s.dirty = true
end

local function sliding_align(b, reported)
  local s = expire(b)
  local missing = reported - s.sum
  if missing > 0 then sliding_add(b, missing) end
end

local function sliding_peek(b)
  return expire(b).sum
end

local function sliding_save(b)
  local s = b.s
  if not s or not s.dirty then return end
  local last = redis.call('ZRANGE', b.log, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', b.state, b.log)
    return
  end
  redis.call('HSET', b.state, 'sum', num(s.sum), 'seq', s.seq)
  -- Every grant leaves the window windowMs after it was made: then the whole log says nothing.
  local ms = tonumber(last[2]) + b.w - now
  expire_in(b.state, ms)
  expire_in(b.log, ms)
end

-- Pauses and the reply -------------------------------------------------------------------------------------------

local function pause_until(key)
  return tonumber(redis.call('HGET', key, 'until'))
end

-- The reply: outcome, a time, a scope, then what stats() needs: the exchange's pause, how many of its accounts
-- are paused, and per budget its count now and window start (exchange scope), and where a grant stood (clock).
local function finish(outcome, at, scope)
  local reply = { outcome, at and num(at) or '', scope or '' }
  local paused = pause_until(KEYS[1])
  if paused and paused > now then reply[4] = num(paused) else reply[4] = '' end
  reply[5] = tostring(redis.call('ZCOUNT', KEYS[3], '(' .. num(now), '+inf'))
  for _, b in ipairs(budgets) do
    local used, start = '', ''
    if b.exchange then
      if b.clock then
        local count_now, window_start = aligned_peek(b)
        used, start = num(count_now), num(window_start)
      else
        used = num(sliding_peek(b))
      end
    end
    reply[#reply + 1] = used
    reply[#reply + 1] = start
    reply[#reply + 1] = b.granted_start and num(b.granted_start) or ''
    reply[#reply + 1] = b.granted_own and num(b.granted_own) or ''
  end
  for _, b in ipairs(budgets) do
    if b.clock then aligned_save(b) else sliding_save(b) end
  end
  return reply
end
`
