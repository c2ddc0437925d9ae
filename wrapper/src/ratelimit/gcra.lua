-- GCRA for one limiter key, atomically: Redis runs a script to completion before any other
-- command. KEYS[1] holds the theoretical arrival time (TAT) in whole microseconds.
-- ARGV: now, emission interval, tolerance (interval x burst), allowed clock skew, all in
-- microseconds, `now` read
-- from the caller's clock: the script never calls TIME, so it runs where scripts may not read
-- the clock (ElastiCache Serverless) and needs no module.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local max_skew = tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = now
local clamped = false
if stored then
  -- No allowed request stores a TAT past its own now + tolerance: one further ahead came from
  -- a faster clock. Up to max_skew of that is waited out (the limit stays exact); beyond it
  -- the clock is broken, and the TAT is clamped (and stored back) so it cannot shut the key.
  if stored > now + tolerance + max_skew then
    stored = now + tolerance + max_skew
    clamped = true
  end
  if stored > now then
    tat = stored
  end
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  if clamped then
    redis.call('SET', KEYS[1], string.format('%d', stored), 'PX', math.ceil((stored - now) / 1000))
  end
  return {0, allow_at - now}
end
-- The key expires when its TAT passes: from then on, no state and a full bucket are the same.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((tolerance - (new_tat - now)) / interval)}
