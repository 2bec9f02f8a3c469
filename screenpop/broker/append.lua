-- KEYS[1]: the fan-out stream; KEYS[1 + i]: the stream of delivery i.  ARGV: origin, window ms,
-- expiry ms, fan-out window ms, this instance's fan-out position ("" for none), "1" when the origin
-- has delivered these messages to its own sockets already (an outbox flush) else "0", packet count
-- n, then each packet as its field count and its flat name, value list (to_fields), then per
-- delivery: agent id, wanted id ("*" or an outbox id), packet index, publish token.  A queue call
-- sends one packet for many agents, so its bodies travel (and are fanned out) once.
--
-- The token names the publish a delivery came from, and makes appending idempotent: the
-- script records each token it appends (screenpop:sent:<token>, with the ids it got, kept as
-- long as the agent streams), and a delivery whose token is recorded already is not appended
-- again: it is the outbox's copy of an append that reached Redis though its reply was lost (a
-- timeout), or the client library's resend of it.  The fan-out entry names the tokens it carries
-- (k), so the origin can tell its own entry when its reader brings it.
--
-- Returns the ids, the fan-out entry's id ("" when nothing was new), and the fan-out entries after
-- this instance's position, so that it can hand those to its agents first and keep every agent's
-- messages in id order.  A repeated call gets the ids of its first run back.
--
-- The names in double braces are filled in by screenpop/broker/scripts.py.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minid = string.format('%d', math.max(0, now - tonumber(ARGV[2])))
local fan_minid = string.format('%d', math.max(0, now - tonumber(ARGV[4])))
local cursor = 8
local packets = {}
for j = 1, tonumber(ARGV[7]) do
  local count = tonumber(ARGV[cursor])
  packets[j] = {unpack(ARGV, cursor + 1, cursor + count)}
  cursor = cursor + count + 1
end
local missed = {}
if ARGV[5] ~= '' then
  missed = redis.call('XRANGE', KEYS[1], '(' .. ARGV[5], '+', 'COUNT', {{MISSED_MAX}})
end
local ids, out = {}, {}
local earlier, made, fresh, used = {}, {}, {}, {}
local fan_id = ''
for i = 2, #KEYS do
  local key = KEYS[i]
  local agent, wanted, index = ARGV[cursor], ARGV[cursor + 1], tonumber(ARGV[cursor + 2])
  local token = ARGV[cursor + 3]
  cursor = cursor + 4
  if earlier[token] == nil then
    local record = redis.call('GET', '{{SENT_PREFIX}}' .. token)
    if record then
      earlier[token] = cjson.decode(record)
    else
      earlier[token] = false
      made[token] = {}
      fresh[#fresh + 1] = token
    end
  end
  local record = earlier[token]
  if record then
    used[token] = (used[token] or 0) + 1
    ids[i - 1] = record.ids[used[token]] or record.fan
    fan_id = record.fan
  else
    local fields = packets[index + 1]
    local id = nil
    if wanted ~= '*' then
      local added = redis.pcall('XADD', key, 'MINID', '~', minid, wanted, unpack(fields))
      if type(added) == 'string' then id = added end
    end
    if id == nil then
      id = redis.call('XADD', key, 'MINID', '~', minid, '*', unpack(fields))
    end
    redis.call('PEXPIRE', key, ARGV[3])
    ids[i - 1] = id
    out[#out + 1] = {agent, id, index}
    table.insert(made[token], id)
  end
end
if #out > 0 then
  fan_id = redis.call('XADD', KEYS[1], 'MINID', '~', fan_minid, '*', 'o', ARGV[1], 'l', ARGV[6],
                      'k', table.concat(fresh, ' '), 'm', cjson.encode({p = packets, d = out}))
  -- as the agent streams: once no publish comes (a quiet night) the last cards go by themselves
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  for _, token in ipairs(fresh) do
    redis.call('SET', '{{SENT_PREFIX}}' .. token, cjson.encode({ids = made[token], fan = fan_id}), 'PX', ARGV[3])
  end
end
return {ids, fan_id, missed}
