-- Keep a time under a key unless a later one is kept there: a ring that arrives late is not the latest.
-- A function, put in front of ring.lua (and made a script of its own) by screenpop/broker/scripts.py.
--
-- key: the value's key; stamp: seconds as text (tonumber reads it); ttl: the value's time to live (s).
local function keep_latest(key, stamp, ttl)
  local kept = redis.call('GET', key)
  if not kept or tonumber(kept) < tonumber(stamp) then redis.call('SET', key, stamp, 'EX', ttl) end
end
