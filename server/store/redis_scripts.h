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
//               K.value K.generation K.epoch K.fetched_at K.expires_at
//               K.intent K.latest_intent (the earliest and latest
//               unanswered send times, both or neither)
// Times are Unix microseconds (exact in Lua's doubles); "" is none.
// Every record write publishes the app_id on channel P changes.

// KEYS: lease, epoch. ARGV: holder, ttl_ms, address, known_epoch.
// Returns {epoch, lease value} when acquired, {0, current holder's value}
// when someone else holds it. A lease still ours (we stopped trusting it
// after lost renewal answers) is extended and returned as acquired, with
// its epoch. An epoch counter below what a replica has seen (Redis
// restarted empty) is raised first: epochs never repeat.
inline constexpr char kAcquire[] = R"lua(
local known = tonumber(ARGV[4])
if known > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], known)
end
local current = redis.call('GET', KEYS[1])
if current then
  local holder, epoch = string.match(current, '^(%S+) (%d+)')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {tonumber(epoch), current}
  end
  return {0, current}
end
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

// KEYS: lease, leader apps. ARGV: our lease value, its epoch, the app ids
// configured at the leader (space-separated). Fenced: only the leader says
// which apps it refreshes.
inline constexpr char kAnnounceApps[] = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'epoch', ARGV[2], 'apps', ARGV[3])
return 1
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
// epoch, fetched_at, expires_at, intent, latest_intent, seen_intents), then
// day, fetches,
// force_fetches, stable_forces, last_stable_force, quota_blocked_until,
// owner fields m, then m times (name, value).
//
// The token record is a register that survives lost writes (DESIGN.md
// "Replicas"):
// - Tokens are ordered by when they were fetched, by the clock (fetched_at)
//   and by the leases (epoch, then generation): after lost writes
//   generations and even epochs may restart, and clocks may disagree, so
//   one is later than another only by both.
// - A token fetched by the current leader in its term (its epoch is the
//   lease's) is later than any other, whatever the orders say: after Redis
//   lost its data a new lease may take a lower epoch than a token healed
//   back, and clocks may disagree. So the leader's own fetch always
//   replaces, and nothing but the leader's next fetch replaces it.
// - Otherwise the leader (fenced: refused unless the lease is the writer's)
//   stores its token unless the stored one is later (a heal put back a
//   fetch the leader has not read yet; the leader adopts it from the answer
//   rather than fetching again). The same value keeps its generation,
//   another takes at least stored + 1, so no generation is used twice.
// - A heal (a replica writing back what the store lost) replaces the token
//   only with a later one: when the orders disagree the stored token
//   stands.
// - Intents merge: the earliest of the earliest, the latest of the latest;
//   except that the leader's own pair is authoritative (it may clear it
//   after a clean answer) while the stored pair is one it knows
//   (seen_intents, " 123,456 - ", "-" for none): an intent a healer put
//   back is never erased or shortened by a leader that never saw it.
// Counters of a later day replace, of the same day take the maximum.
// Owner fields ("owner.NAME"): the leader's replace them all (those it did
// not send are deleted); a heal's are added where the store lacks them,
// except send-time lists (NAME ending "_hour": unix microseconds, comma-
// separated, ascending), which a heal merges in as a union so that no send
// a budget counts is lost. A WeCom corp's installation (owner.installed_at,
// unix microseconds, with owner.refresh_token, its permanent code, and
// owner.revoked) is replaced only by a later one, whoever writes: a later
// one replaces all three (and drops what it lacks: the earlier one's
// revocation); an earlier one changes none of them. WeCom gives a permanent
// code once, so a stale writer must never put an older one back.
// Returns, per token, {value, generation, fetched_at, expires_at, intent,
// epoch, latest_intent} as stored, for the writer to adopt.
inline constexpr char kWrite[] = R"lua(
local leader = ARGV[1] ~= ''
local lease = redis.call('GET', KEYS[1])
if leader and lease ~= ARGV[1] then
  return redis.error_reply("FENCED the lease is not the writer's")
end
-- The current term's epoch: what its leader fetched carries it.
local term = tonumber(lease and string.match(lease, '^%S+ (%d+)') or '') or -1
local key = KEYS[2]
local function get(field) return redis.call('HGET', key, field) or '' end
local function put(field, value)
  if value == '' then redis.call('HDEL', key, field)
  else redis.call('HSET', key, field, value) end
end
local function num(text) return tonumber(text) or 0 end
-- Two ascending lists of integers as text: every entry of both, an entry
-- both hold once (their counts' maximum). Entries stay text: a double
-- would print 1.7e+15.
local function union(a, b)
  local function split(text)
    local out = {}
    for entry in string.gmatch(text, '[^,]+') do out[#out + 1] = entry end
    return out
  end
  local x, y, out = split(a), split(b), {}
  local i, j = 1, 1
  while i <= #x or j <= #y do
    local u, v = tonumber(x[i] or ''), tonumber(y[j] or '')
    if v == nil or (u ~= nil and u < v) then
      out[#out + 1] = x[i]; i = i + 1
    elseif u == nil or v < u then
      out[#out + 1] = y[j]; j = j + 1
    else
      out[#out + 1] = x[i]; i = i + 1; j = j + 1
    end
  end
  return table.concat(out, ',')
end
local function earliest(a, b)
  if a == '' then return b end
  if b == '' or num(a) < num(b) then return a end
  return b
end
local function latest(a, b)
  if a == '' then return b end
  if b == '' or num(a) > num(b) then return a end
  return b
end
local n = tonumber(ARGV[4])
local out = {}
local i = 5
for t = 1, n do
  local kind = ARGV[i]
  local value, gen, epoch = ARGV[i + 1], num(ARGV[i + 2]), num(ARGV[i + 3])
  local fetched, expires = ARGV[i + 4], ARGV[i + 5]
  local intent, intent_latest, seen = ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  i = i + 9
  local function field(name) return kind .. '.' .. name end
  local old_value = get(field('value'))
  local old_gen = num(get(field('generation')))
  local old_epoch = num(get(field('epoch')))
  local old_fetched = get(field('fetched_at'))
  local old_intent = get(field('intent'))
  local old_latest = get(field('latest_intent'))
  if old_intent ~= '' and old_latest == '' then old_latest = old_intent end
  if intent ~= '' and intent_latest == '' then intent_latest = intent end
  local function later(f1, e1, g1, f2, e2, g2)
    return num(f1) > num(f2) and (e1 > e2 or (e1 == e2 and g1 > g2))
  end
  local replace = false
  if value ~= '' and value ~= old_value then
    if old_value == '' then
      replace = true
    elseif leader and epoch == term then
      -- The leader's own fetch of this term: later in time than anything
      -- stored, whatever clocks and epochs after a lost write say.
      replace = true
    elseif old_epoch == term then
      -- What the current leader fetched stands against anything else.
      replace = false
    elseif leader then
      replace = not later(old_fetched, old_epoch, old_gen, fetched, epoch, gen)
    else
      replace = later(fetched, epoch, gen, old_fetched, old_epoch, old_gen)
    end
  end
  if replace then
    if gen <= old_gen then gen = old_gen + 1 end
    put(field('value'), value)
    put(field('generation'), tostring(gen))
    put(field('epoch'), tostring(epoch))
    put(field('fetched_at'), fetched)
    put(field('expires_at'), expires)
  elseif value ~= '' and value == old_value and leader then
    put(field('fetched_at'), fetched)
    put(field('expires_at'), expires)
  end
  local final = earliest(old_intent, intent)
  local final_latest = latest(old_latest, intent_latest)
  local known = ' ' .. (old_intent == '' and '-' or
                        old_intent .. ',' .. old_latest) .. ' '
  if leader and string.find(seen, known, 1, true) then
    final, final_latest = intent, intent_latest
  end
  put(field('intent'), final)
  put(field('latest_intent'), final_latest)
  out[t] = {get(field('value')), num(get(field('generation'))),
            get(field('fetched_at')), get(field('expires_at')), final,
            num(get(field('epoch'))), final_latest}
end
local day = tonumber(ARGV[i])
local old_day = tonumber(get('day')) or -1
local counters = {'fetches', 'force_fetches', 'stable_forces'}
if day > old_day then
  put('day', ARGV[i])
  for c = 1, 3 do put(counters[c], ARGV[i + c]) end
elseif day == old_day then
  for c = 1, 3 do
    local old = tonumber(get(counters[c])) or 0
    if tonumber(ARGV[i + c]) > old then put(counters[c], ARGV[i + c]) end
  end
end
local times = {'last_stable_force', 'quota_blocked_until'}
for c = 1, 2 do
  local new = ARGV[i + 3 + c]
  local old = get(times[c])
  if new ~= '' and (old == '' or tonumber(new) > tonumber(old)) then
    put(times[c], new)
  end
end
local m = tonumber(ARGV[i + 6])
local installation = {['owner.installed_at'] = true,
                      ['owner.refresh_token'] = true, ['owner.revoked'] = true}
local sent_installed = nil
for o = 1, m do
  if ARGV[i + 5 + 2 * o] == 'installed_at' then
    sent_installed = tonumber(ARGV[i + 6 + 2 * o])
  end
end
local stored_installed = tonumber(get('owner.installed_at'))
-- 1: the sent installation is the later; -1: the earlier; 0: the same, or
-- none on either side (the usual rules).
local order = 0
if sent_installed or stored_installed then
  local s, t = sent_installed or -1, stored_installed or -1
  if s > t then order = 1 elseif s < t then order = -1 end
end
local sent = {}
for o = 1, m do
  local name, value = 'owner.' .. ARGV[i + 5 + 2 * o], ARGV[i + 6 + 2 * o]
  sent[name] = true
  if installation[name] and order ~= 0 then
    if order > 0 then put(name, value) end
  elseif leader or get(name) == '' then
    put(name, value)
  elseif string.sub(name, -5) == '_hour' then
    put(name, union(get(name), value))
  end
end
if leader or order > 0 then
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, 6) == 'owner.' and not sent[name] then
      if installation[name] and order ~= 0 then
        if order > 0 then redis.call('HDEL', key, name) end
      elseif leader then
        redis.call('HDEL', key, name)
      end
    end
  end
end
local version = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[4], version, ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return out
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
