-- KEYS[1]: a set; ARGV[1]: its time to live in seconds, ARGV[2…]: the members it holds from now on.
-- Returns the members it held before (without the empty member that marks that the set exists), or
-- false when there was no set: atomic, so of two transfers racing each sees one whole set, never a mix.
-- Also the body of ``replace(KEYS, ARGV)`` in move_members.lua (screenpop/broker/scripts.py).
local existed = redis.call('EXISTS', KEYS[1]) == 1
local before = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], '')
for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if not existed then return false end
local old = {}
for _, member in ipairs(before) do
  if member ~= '' then old[#old + 1] = member end
end
return old
