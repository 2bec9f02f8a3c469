-- A ringing event in one call: claim it, read its call's state and, when the call has none, add the
-- routed agents to the call's recipients and append the card to exactly those that were new.
--
-- KEYS[1]: the event's claim; KEYS[2]: its call's state; KEYS[3]: the call's recipients set;
-- KEYS[4]: the fan-out stream; KEYS[5]: the ringing agent's latest ring time; KEYS[5 + i]: the
-- stream of routed agent i.  ARGV: the claim's time to live (s), the set's time to live (s), then
-- append's origin, window ms, expiry ms, fan-out window ms and fan-out position (see append.lua),
-- the publish token, this ring's time ('' when it names no agent or no time: KEYS[5] is then not
-- touched), the card's field count and its flat name, value list (to_fields), then the routed
-- agents, one per stream in KEYS.  A claimed ring keeps its time unless a later one is kept.
--
-- Returns {claimed (1 or 0), the call's state or nil, the new agents}, followed by append's reply
-- (ids, fan-out id, missed) when the card was appended.  A duplicate or a call with state changes
-- nothing but the claim; the card is then dropped.  Atomic, so of racing instances (or legs) one
-- claims the event and each agent is new to exactly one.
--
-- ``append`` and ``keep_latest`` are append.lua and keep_latest.lua as functions, put in front of
-- this file by screenpop/broker/scripts.py.
if not redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then return {0, false, {}} end
if ARGV[9] ~= '' then keep_latest(KEYS[5], ARGV[9], ARGV[2]) end
local state = redis.call('GET', KEYS[2])
if state then return {1, state, {}} end
local count = tonumber(ARGV[10])
local first = 11 + count
redis.call('SADD', KEYS[3], '')
local new, keys = {}, {KEYS[4]}
local args = {ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], '0', '1', ARGV[10]}
for i = 11, first - 1 do args[#args + 1] = ARGV[i] end
for i = first, #ARGV do
  if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then
    new[#new + 1] = ARGV[i]
    keys[#keys + 1] = KEYS[6 + i - first]
    for _, value in ipairs({ARGV[i], '*', '0', ARGV[8]}) do args[#args + 1] = value end
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[2])
if #new == 0 then return {1, false, new} end
local appended = append(keys, args)
return {1, false, new, appended[1], appended[2], appended[3]}
