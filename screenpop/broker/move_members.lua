-- A transfer's move, unless a later one was applied: KEYS[1]: the call's holders set; KEYS[2]: the
-- time of the newest move applied to it; KEYS[3]: the call's state.  ARGV[1]: time to live (s);
-- ARGV[2]: this move's time ('' when the provider gave none: it is applied, in arrival order);
-- ARGV[3]: the call state an applied move sets; ARGV[4…]: the new holders.  The state is set in
-- the same step, so a ring stamped before the transfer that lands just after the move finds it
-- and pops nothing (ring.lua reads the state and adds to the set in one step too).
-- Returns {0} when a move stamped later than this one was applied already (nothing changes), else
-- {1, the members held before or false}: the check and the move in one step, so of two instances
-- taking a call's transfers in any order, the one stamped last holds the call.
--
-- ``replace`` is replace_members.lua as a function, put in front of this file by scripts.py.
if ARGV[2] ~= '' then
  local kept = redis.call('GET', KEYS[2])
  if kept and tonumber(kept) > tonumber(ARGV[2]) then return {0} end
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[1])
return {1, replace({KEYS[1]}, {ARGV[1], unpack(ARGV, 4)})}
