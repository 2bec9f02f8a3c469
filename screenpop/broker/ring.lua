-- A ringing event in one call: claim it, read its call's state and, when the call has none, add the
-- routed agents to the call's recipients and append the card to exactly those that were new.
--
-- KEYS[1]: the event's claim; KEYS[2]: its call's state; KEYS[3]: the call's recipients set;
-- KEYS[4]: the fan-out stream; KEYS[4 + i]: the stream of routed agent i.  ARGV: the claim's time
-- to live (s), the set's time to live (s), then append's origin, window ms, expiry ms, fan-out
-- window ms and fan-out position (see append.lua), the publish token, the card's field count and
-- its flat name, value list (to_fields), then the routed agents, one per stream in KEYS.
--
-- Returns {claimed (1 or 0), the call's state or nil, the new agents}, followed by append's reply
-- (ids, fan-out id, missed) when the card was appended.  A duplicate or a call with state changes
-- nothing but the claim; the card is then dropped.  Atomic, so of racing instances (or legs) one
-- claims the event and each agent is new to exactly one.
--
-- ``append`` is append.lua as a function, put in front of this file by screenpop/broker/scripts.py.
if not redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then return {0, false, {}} end
local state = redis.call('GET', KEYS[2])
if state then return {1, state, {}} end
local count = tonumber(ARGV[9])
local first = 10 + count
redis.call('SADD', KEYS[3], '')
local new, keys = {}, {KEYS[4]}
local args = {ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], '0', '1', ARGV[9]}
for i = 10, first - 1 do args[#args + 1] = ARGV[i] end
for i = first, #ARGV do
  if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then
    new[#new + 1] = ARGV[i]
    keys[#keys + 1] = KEYS[5 + i - first]
    for _, value in ipairs({ARGV[i], '*', '0', ARGV[8]}) do args[#args + 1] = value end
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[2])
if #new == 0 then return {1, false, new} end
local appended = append(keys, args)
return {1, false, new, appended[1], appended[2], appended[3]}
