"""The Lua scripts of the Redis transport: each runs atomically, in one round trip.

Keys (one Redis database; the client's key prefix is part of every pattern):

    dflock:signals:listeners            ZSET of live listeners: member "p <pattern>" for
                                        plain ones, "g <group> <pattern>" for a group;
                                        score = when it expires (ms, Redis's clock)
    dflock:signals:to <pattern>         pub/sub channel of a pattern's plain listeners
    dflock:signals:group <g> <pattern>  STREAM of a group, consumer group "members"

Patterns are matched here, token by token, with exactly dflockd's and NATS's rules:
Redis's own glob patterns cannot say "one token", and would let a channel holding
`*`, `?` or `[` match more than it should.
"""

from __future__ import annotations

NAMESPACE = "dflock:signals:"
REGISTRY = NAMESPACE + "listeners"
PLAIN_CHANNEL = NAMESPACE + "to "
GROUP_STREAM = NAMESPACE + "group "
CONSUMER_GROUP = "members"

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS[1] registry; ARGV: channel, payload, the most entries a group's stream keeps.
# Returns how many received it: plain listeners as PUBLISH counts them, 1 per group.
EMIT = (
    _NOW
    + """
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
if #entries == 0 then
  return 0
end
local channel, payload = ARGV[1], ARGV[2]
local tokens = {}
for token in string.gmatch(channel, '[^.]+') do
  tokens[#tokens + 1] = token
end
local function matches(pattern)
  local i = 0
  for token in string.gmatch(pattern, '[^.]+') do
    i = i + 1
    if token == '>' then
      return i <= #tokens
    end
    if i > #tokens or (token ~= '*' and token ~= tokens[i]) then
      return false
    end
  end
  return i == #tokens
end
local received = 0
local message = nil
for _, entry in ipairs(entries) do
  local kind = string.sub(entry, 1, 1)
  if kind == 'p' then
    local pattern = string.sub(entry, 3)
    if matches(pattern) then
      message = message or (channel .. ' ' .. payload)
      received = received + redis.call('PUBLISH', '"""
    + PLAIN_CHANNEL
    + """' .. pattern, message)
    end
  elseif kind == 'g' then
    local space = string.find(entry, ' ', 3, true)
    local group, pattern = string.sub(entry, 3, space - 1), string.sub(entry, space + 1)
    if matches(pattern) then
      redis.call('XADD', '"""
    + GROUP_STREAM
    + """' .. group .. ' ' .. pattern, 'MAXLEN', '~', ARGV[3], '*',
        'c', channel, 'p', payload)
      received = received + 1
    end
  end
end
return received
"""
)

# KEYS[1] registry; ARGV: ttl_ms, then members to keep alive. A group's stream lives
# three TTLs past its last member's heartbeat; expired members are swept.
REFRESH = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'GT', now + ttl, ARGV[i])
  if string.sub(ARGV[i], 1, 1) == 'g' then
    redis.call('PEXPIRE', '"""
    + NAMESPACE
    + """group ' .. string.sub(ARGV[i], 3), ttl * 3)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
"""
)

# KEYS[1] registry, KEYS[2] the group's stream; ARGV: member, consumer, ttl_ms.
# The consumer group starts at the end of the stream: a new group hears what comes next.
JOIN_GROUP = (
    _NOW
    + """
redis.pcall('XGROUP', 'CREATE', KEYS[2], '"""
    + CONSUMER_GROUP
    + """', '$', 'MKSTREAM')
redis.call('XGROUP', 'CREATECONSUMER', KEYS[2], '"""
    + CONSUMER_GROUP
    + """', ARGV[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 3)
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS[1] registry, KEYS[2] the group's stream; ARGV: member, consumer.
# The last member out unregisters the group, so emits stop counting and storing for it.
LEAVE_GROUP = (
    """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.pcall('XGROUP', 'DELCONSUMER', KEYS[2], '"""
    + CONSUMER_GROUP
    + """', ARGV[2])
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[2])
if not ok then
  return 0
end
for _, info in ipairs(groups) do
  for i = 1, #info, 2 do
    if info[i] == 'consumers' and info[i + 1] == 0 then
      redis.call('ZREM', KEYS[1], ARGV[1])
      redis.call('DEL', KEYS[2])
    end
  end
end
return 1
"""
)
