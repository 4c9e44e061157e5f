#ifndef WXTOKEN_SERVER_STORE_REDIS_SCRIPTS_H_
#define WXTOKEN_SERVER_STORE_REDIS_SCRIPTS_H_

namespace wxtoken::server::redis_scripts {

// The Lua scripts of the Redis store (DESIGN.md "Replicas"). Each runs
// atomically in Redis. Keys, with the configured prefix P:
//   P lease     "HOLDER EPOCH ADDRESS", with the lease's TTL
//   P epoch     the fencing epoch, incremented at each acquisition
//   P version   incremented by every record write
//   P changed   sorted set: app_id by the version of its last write
//   P app:ID    hash: the app's counters, and per token kind K the fields
//               K.value K.generation K.fetched_at K.expires_at K.intent
// Times are Unix microseconds (exact in Lua's doubles); "" is none.
// Every record write publishes the app_id on channel P changes.

// KEYS: lease, epoch. ARGV: holder, ttl_ms, address, known_epoch.
// Returns {epoch, lease value} when acquired, {0, current holder's value}
// when someone holds it. An epoch counter below what a replica has seen
// (Redis restarted empty) is raised first: epochs never repeat.
inline constexpr char kAcquire[] = R"lua(
local known = tonumber(ARGV[4])
if known > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], known)
end
local current = redis.call('GET', KEYS[1])
if current then return {0, current} end
local epoch = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. ' ' .. epoch .. ' ' .. ARGV[3]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {epoch, value}
)lua";

// KEYS: lease. ARGV: our lease value, ttl_ms. 1 when extended, 0 when the
// lease is not ours any more (compare-and-extend).
inline constexpr char kRenew[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

// KEYS: lease. ARGV: our lease value. Deletes the lease if it is ours, so a
// successor need not wait out the TTL (a clean shutdown).
inline constexpr char kRelease[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

// KEYS: lease, app hash, version, changed. ARGV: our lease value ("" for a
// heal), app_id, channel, kinds n, then n times (kind, value, generation,
// fetched_at, expires_at, intent), then day, fetches, force_fetches,
// stable_forces, last_stable_force, quota_blocked_until.
//
// Leader (fenced: refused unless the lease is the writer's): the same value
// keeps its generation and takes the leader's times and intent (which a
// clean answer may have cleared); a new value with a higher generation is
// stored as it is; a new value whose generation the store already has is a
// newer fetch than what a healing replica put there: it gets stored + 1.
// Heal: a higher generation replaces the token; the same value merges its
// intent as the earliest; anything else is kept as it is.
// Counters of a later day replace, of the same day take the maximum.
// Returns the generation stored for each of the n tokens.
inline constexpr char kWrite[] = R"lua(
local leader = ARGV[1] ~= ''
if leader and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply("FENCED the lease is not the writer's")
end
local key = KEYS[2]
local function get(field) return redis.call('HGET', key, field) end
local function put(field, value)
  if value == '' then redis.call('HDEL', key, field)
  else redis.call('HSET', key, field, value) end
end
local n = tonumber(ARGV[4])
local stored = {}
local i = 5
for t = 1, n do
  local kind, value, gen = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local fetched, expires, intent = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local old_gen = tonumber(get(kind .. '.generation') or '0')
  local old_value = get(kind .. '.value') or ''
  local whole = false
  if leader then
    if value == old_value then
      gen = old_gen
      put(kind .. '.fetched_at', fetched)
      put(kind .. '.expires_at', expires)
      put(kind .. '.intent', intent)
    else
      if gen <= old_gen then gen = old_gen + 1 end
      whole = true
    end
  else
    if gen > old_gen then
      whole = true
    elseif gen == old_gen and value == old_value then
      local old_intent = get(kind .. '.intent') or ''
      if intent ~= '' and (old_intent == '' or
                           tonumber(intent) < tonumber(old_intent)) then
        put(kind .. '.intent', intent)
      end
    else
      gen = old_gen
    end
  end
  if whole then
    put(kind .. '.value', value)
    put(kind .. '.generation', tostring(gen))
    put(kind .. '.fetched_at', fetched)
    put(kind .. '.expires_at', expires)
    put(kind .. '.intent', intent)
  end
  stored[t] = gen
end
local day = tonumber(ARGV[i])
local old_day = tonumber(get('day') or '-1')
local counters = {'fetches', 'force_fetches', 'stable_forces'}
if day > old_day then
  put('day', ARGV[i])
  for c = 1, 3 do put(counters[c], ARGV[i + c]) end
elseif day == old_day then
  for c = 1, 3 do
    local old = tonumber(get(counters[c]) or '0')
    if tonumber(ARGV[i + c]) > old then put(counters[c], ARGV[i + c]) end
  end
end
local times = {'last_stable_force', 'quota_blocked_until'}
for c = 1, 2 do
  local new = ARGV[i + 3 + c]
  local old = get(times[c]) or ''
  if new ~= '' and (old == '' or tonumber(new) > tonumber(old)) then
    put(times[c], new)
  end
end
local version = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[4], version, ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return stored
)lua";

// KEYS: version, changed. ARGV: the version last read, the app hash prefix.
// Returns {version, reset, app_id, {field, value, ...}, app_id, ...}: every
// app written after that version, or every app when the store's version is
// below it (reset = 1: Redis lost its data, or this is the first read).
inline constexpr char kRead[] = R"lua(
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
local reset = 0
if version < since or since == 0 then
  reset = 1
  since = 0
end
local out = {version, reset}
local apps = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf')
for _, app in ipairs(apps) do
  out[#out + 1] = app
  out[#out + 1] = redis.call('HGETALL', ARGV[2] .. app)
end
return out
)lua";

}  // namespace wxtoken::server::redis_scripts

#endif  // WXTOKEN_SERVER_STORE_REDIS_SCRIPTS_H_
