-- KEYS[1]: a set; ARGV[1]: its time to live in seconds, ARGV[2…]: members to add.  The empty
-- member marks that the set exists even when every real member was removed.  Returns the members
-- that were not in the set before: atomic, so of racing instances only one hears "new" per member.
redis.call('SADD', KEYS[1], '')
local new = {}
for i = 2, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then new[#new + 1] = ARGV[i] end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return new
