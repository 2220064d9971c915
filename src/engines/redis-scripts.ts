/**
 * The Redis engine's server-side scripts. Each runs atomically on the Redis server, which is what
 * makes ids strictly ordered across every hub instance: one script appends a batch to the shared
 * log and to each topic's history, so no other instance's append can interleave with it.
 *
 * Keys, under the namespace prefix P:
 *   P:log            stream of every event (fields t, e, d, n): what each instance tails for delivery;
 *                    n numbers the entries 1, 2, 3... so that a reader sees entries trimmed before it
 *                    read them as a jump (stream ids alone have gaps of their own)
 *   P:logged         the number of the last entry added to P:log
 *   P:topic:<topic>  stream of one topic's retained history (fields e, d), same ids as in P:log
 *   P:topics         set of topics with history or eviction records
 *   P:evicted        hash topic -> newest id that left that topic's history (to detect gaps exactly)
 *   P:forgotten      newest eviction id of topics whose records were dropped (answers conservatively)
 *   P:epoch          random value drawn when the namespace's data is created: ids carry it, so an id
 *                    from data that Redis lost is recognised as unknown instead of mistaken for a position
 *   P:dedupe:<key>   an append's dedupe key -> "<epoch> <id1> <id2> ...", expiring after its window
 */

/** Shared Lua helpers: compare two stream ids "ms-seq". */
const ID_HELPERS = `
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function newer(a, b)
  if not b then return true end
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local function record_eviction(evicted, topic, id)
  if newer(id, redis.call('HGET', evicted, topic)) then redis.call('HSET', evicted, topic, id) end
end
local function trim_by_age(evicted, tkey, topic, minid)
  local gone = redis.call('XREVRANGE', tkey, '(' .. minid, '-', 'COUNT', 1)
  if #gone > 0 then
    record_eviction(evicted, topic, gone[1][1])
    redis.call('XTRIM', tkey, 'MINID', minid)
  end
end
`;

/**
 * KEYS: log, topics, evicted, epoch, logged, and the dedupe key (P:dedupe:<key>) if the append has one.
 * ARGV: prefix, logMaxLen, newEpoch, dedupeWindowMs (0 without a dedupe key), then (topic, event,
 * data, maxEvents, maxAgeMs) per event, the last two the topic's retention; event '' means none.
 * Returns { epoch, replayed, id1, id2, ... }: replayed is 1 when the dedupe key was found, and then
 * nothing was appended and epoch and ids are those of the append that stored it.
 */
export const APPEND_SCRIPT = `${ID_HELPERS}
local log, topics, evicted, epochKey, logged, dedupeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local prefix, logMax = ARGV[1], ARGV[2]
-- Checked in the same script as the append, so of two instances appending with one key, one stores.
if dedupeKey then
  local first = redis.call('GET', dedupeKey)
  if first then
    local result = {}
    for part in string.gmatch(first, '%S+') do result[#result + 1] = part end
    table.insert(result, 2, 1)
    return result
  end
end
local epoch = redis.call('GET', epochKey)
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', epochKey, epoch)
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local result = { epoch, 0 }
for i = 5, #ARGV, 5 do
  local topic, event, data, maxEvents, maxAge = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local n = redis.call('INCR', logged)
  local id = redis.call('XADD', log, 'MAXLEN', '~', logMax, '*', 't', topic, 'e', event, 'd', data, 'n', n)
  local tkey = prefix .. ':topic:' .. topic
  redis.call('SADD', topics, topic)
  if maxEvents == 0 then
    record_eviction(evicted, topic, id)
  else
    -- Count retention: exactly one entry leaves when the topic is full; remember which.
    if redis.call('XLEN', tkey) >= maxEvents then
      local oldest = redis.call('XRANGE', tkey, '-', '+', 'COUNT', 1)
      record_eviction(evicted, topic, oldest[1][1])
      redis.call('XTRIM', tkey, 'MAXLEN', maxEvents - 1)
    end
    redis.call('XADD', tkey, id, 'e', event, 'd', data)
    trim_by_age(evicted, tkey, topic, tostring(now - maxAge))
  end
  result[#result + 1] = id
end
if dedupeKey then
  local ids = { epoch }
  for i = 3, #result do ids[#ids + 1] = result[i] end
  redis.call('SET', dedupeKey, table.concat(ids, ' '), 'PX', ARGV[4])
end
return result
`;

/**
 * Age retention for quiet topics, and forgetting topics whose history emptied long ago (so that
 * the set of topics cannot grow without bound). KEYS: topics, evicted, forgotten. ARGV: prefix,
 * then (topic, maxAgeMs) per topic, its retention's age. Returns the number of topics forgotten.
 */
export const SWEEP_SCRIPT = `${ID_HELPERS}
local topics, evicted, forgotten = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local forgot = 0
for i = 2, #ARGV, 2 do
  local topic = ARGV[i]
  local minid = tostring(now - tonumber(ARGV[i + 1]))
  local tkey = prefix .. ':topic:' .. topic
  trim_by_age(evicted, tkey, topic, minid)
  if redis.call('XLEN', tkey) == 0 then
    local last = redis.call('HGET', evicted, topic)
    if last and not newer(last, minid) then
      if newer(last, redis.call('GET', forgotten)) then redis.call('SET', forgotten, last) end
      redis.call('HDEL', evicted, topic)
      redis.call('SREM', topics, topic)
      redis.call('DEL', tkey)
      forgot = forgot + 1
    end
  end
end
return forgot
`;

/** KEYS: counter. ARGV: ttlMs. Returns the new count; the window starts with the first increment. */
export const INCREMENT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;
