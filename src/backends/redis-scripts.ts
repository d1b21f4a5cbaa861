/*
The Redis side of `redisBackend()`: three Lua scripts over one data model. Each script runs
atomically, so the order in which requests reach Redis is one global order, and every queue agrees
with it: a request only ever waits for requests with a lower ticket, which is why multi-key requests
cannot deadlock.

DATA (P = prefix; every key carries a TTL, so nothing outlives its users):
- `P seq`            last ticket handed out (string);
- `P r:<id>`         one request (hash): `o` owner channel id, `t` ticket, `g` 1 once granted,
                     `n` its nodes as JSON `[[key, mode], ...]`; TTL = lease, renewed by its owner;
- `P q:<m>:<key>`    per tree node and mode, the tickets of the requests holding or awaiting the
                     node in mode m (sorted set: member request id, score ticket); TTL = 2 leases.

MODES (multi-granularity locking): a write takes `x` on each of its keys and `i` (intent to write
below) on every ancestor; a read takes `s` and `j` (intent to read below). A node's modes conflict as
  x: x s i j    s: x i    i: x s    j: x
so a write on `objects/1` (x) and one on `objects/1/blocks/7` (i on `objects/1`) conflict, siblings
(both i) do not, and reads share. A request that needs s and i on one node takes x there (strictly
safer). A request is granted once no conflicting entry with a lower ticket is left on any of its
nodes: FIFO per node, exactly the in-process lanes' rule.

TICKETS are also the fencing tokens: max(last + 1, Redis time in microseconds). Conflicting grants on
a node happen in ticket order, so a later holder always has a higher token, and because tickets
follow Redis's clock they keep growing after a restart that lost `seq`.

RESTARTS: a Redis that restarted without its data no longer knows the leases it granted, and their
holders may still be working. No grant is made before Redis has been up for one lease, by which
time every holder of an earlier lease has stopped (its own deadline) or its lease expired (unless
`restartGrace: false` says the lock state survives restarts).

Dead entries (owner gone, its hash expired) are removed whenever a script meets them at the head of
a queue; a releasing script grants the requests it was blocking and publishes each grant on the
owner's channel `P w:<owner>`.
*/

const prelude = `
local P = ARGV[1]
local lease = tonumber(ARGV[2])
local conflicts = {x = {'x', 's', 'i', 'j'}, s = {'x', 'i'}, i = {'x', 's'}, j = {'x'}}
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function fmt(n) return string.format('%.0f', n) end
local function rk(id) return P .. 'r:' .. id end
local function qk(m, node) return P .. 'q:' .. m .. ':' .. node end

local function keep(q)
  if redis.call('PTTL', q) < 2 * lease then redis.call('PEXPIRE', q, 2 * lease) end
end

-- The live entry with the lowest ticket: id and ticket, or nil. Dead entries met on the way go.
local function head(q)
  while true do
    local e = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
    if #e == 0 then return nil end
    if redis.call('EXISTS', rk(e[1])) == 1 then return e[1], tonumber(e[2]) end
    redis.call('ZREM', q, e[1])
  end
end

-- A request with a lower ticket that conflicts on one of the nodes, or nil.
local function blocker(nodes, ticket)
  for _, n in ipairs(nodes) do
    for _, m in ipairs(conflicts[n[2]]) do
      local id, t = head(qk(m, n[1]))
      if id and t < ticket then return id end
    end
  end
  return nil
end

-- Microseconds until this Redis has surely been up for one lease. Uptime is the difference of two
-- whole-second clock readings, so the time really up may be almost a second shorter.
local grace
local function graceLeft()
  if grace == nil then
    if ARGV[3] == '0' then
      grace = 0
    else
      local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
      grace = lease * 1000 - (up - 1) * 1000000
    end
  end
  return grace
end

-- Grants the request if nothing is ahead of it: {1, ticket}, else {0, ticket, ms to wait at least}.
local function try(id, h, nodes, ticket)
  local b = blocker(nodes, ticket)
  if b then return {0, ticket, redis.call('PTTL', rk(b))} end
  local wait = graceLeft()
  if wait > 0 then return {0, ticket, math.ceil(wait / 1000)} end
  redis.call('HSET', h, 'g', '1')
  return {1, ticket}
end

-- Whether the request's hash and all its queue entries are there; if not, what is left is removed.
local function intact(id, h, nodes)
  for _, n in ipairs(nodes) do
    if not redis.call('ZSCORE', qk(n[2], n[1]), id) then
      for _, m in ipairs(nodes) do redis.call('ZREM', qk(m[2], m[1]), id) end
      redis.call('DEL', h)
      return false
    end
  end
  return true
end
`;

/** ARGV: prefix, leaseMs, restartGrace (1/0), id, owner, nodes (JSON). Returns {1, ticket} or {0, ticket, waitMs}. */
export const enqueueScript = `${prelude}
local id, owner, spec = ARGV[4], ARGV[5], ARGV[6]
local nodes = cjson.decode(spec)
local seq = P .. 'seq'
local ticket = math.max(tonumber(redis.call('GET', seq) or '0') + 1, now)
redis.call('SET', seq, fmt(ticket), 'PX', 3 * lease)
local h = rk(id)
redis.call('HSET', h, 'o', owner, 't', fmt(ticket), 'g', '0', 'n', spec)
redis.call('PEXPIRE', h, lease)
for _, n in ipairs(nodes) do
  local q = qk(n[2], n[1])
  redis.call('ZADD', q, fmt(ticket), id)
  keep(q)
end
return try(id, h, nodes, ticket)
`;

/**
ARGV: prefix, leaseMs, restartGrace, id, owner. Renews the request (held or waiting) for one more lease and grants
it if its turn has come. Returns {-1} when Redis no longer has it, else what `try` returns.
*/
export const pollScript = `${prelude}
local id = ARGV[4]
local h = rk(id)
local d = redis.call('HMGET', h, 'o', 't', 'g', 'n')
if d[1] ~= ARGV[5] then return {-1} end
local nodes = cjson.decode(d[4])
if not intact(id, h, nodes) then return {-1} end
redis.call('PEXPIRE', h, lease)
for _, n in ipairs(nodes) do keep(qk(n[2], n[1])) end
local ticket = tonumber(d[2])
if d[3] == '1' then return {1, ticket} end
return try(id, h, nodes, ticket)
`;

/**
ARGV: prefix, leaseMs, restartGrace, id, owner. Compare-and-delete: removes the request only if it is still this
owner's (so a second call, or one after expiry, changes nothing), then grants the requests it was
blocking and tells their owners. Returns 1 if it removed something, else 0.
*/
export const releaseScript = `${prelude}
local id = ARGV[4]
local h = rk(id)
local d = redis.call('HMGET', h, 'o', 't', 'g', 'n')
if d[1] ~= ARGV[5] then return 0 end
redis.call('DEL', h)
local nodes = cjson.decode(d[4])
local ticket = tonumber(d[2])
for _, n in ipairs(nodes) do redis.call('ZREM', qk(n[2], n[1]), id) end

-- Grants what waits in queue q (mode c of node) after the released ticket and is now first in line.
local function wake(node, c, q)
  -- Usually nothing waits there (no key at all, or only earlier entries): one call and done.
  if #redis.call('ZRANGEBYSCORE', q, '(' .. fmt(ticket), '+inf', 'LIMIT', 0, 1) == 0 then return end
  local low
  for _, b in ipairs(conflicts[c]) do
    local _, t = head(qk(b, node))
    if t and (low == nil or t < low) then low = t end
  end
  local bound = low and fmt(low) or '+inf'
  local list = redis.call('ZRANGEBYSCORE', q, '(' .. fmt(ticket), bound, 'LIMIT', 0, c == 'x' and 1 or 1000)
  for _, other in ipairs(list) do
    local oh = rk(other)
    local od = redis.call('HMGET', oh, 'o', 't', 'g', 'n')
    if not od[1] then
      redis.call('ZREM', q, other)
    elseif od[3] == '0' then
      local r = try(other, oh, cjson.decode(od[4]), tonumber(od[2]))
      if r[1] == 1 then redis.call('PUBLISH', P .. 'w:' .. od[1], other) end
    end
  end
end

-- Only entries after this one, in a mode it conflicted with, can have been waiting for it.
for _, n in ipairs(nodes) do
  for _, c in ipairs(conflicts[n[2]]) do wake(n[1], c, qk(c, n[1])) end
end
return 1
`;
