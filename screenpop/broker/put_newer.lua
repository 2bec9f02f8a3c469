-- Keep a value unless a version at least as new is kept: KEYS[1]: the value; KEYS[2]: its version.
-- ARGV: the value, its version, time to live (s).  Returns 1 when kept, 0 when a version at least as
-- new was there (the first value written of a version stays).  Atomic, so an instance that is late
-- with an older version of a card never replaces the newer one another instance kept.
local kept = redis.call('GET', KEYS[2])
if kept and tonumber(kept) >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
