/**
 * The Redis engine's server-side scripts. Each runs atomically on the Redis server, which is what
 * makes ids strictly ordered across every hub instance: one script appends a batch to the shared
 * log and to each topic's history, so no other instance's append can interleave with it.
 *
 * Keys, under the namespace prefix P:
 *   P:log            stream of every event (fields t, e, d, n, p): what each instance tails for delivery;
 *                    n numbers the entries 1, 2, 3... so that a reader sees entries trimmed before it
 *                    read them as a jump (stream ids alone have gaps of their own); p is the epoch the
 *                    entry was appended in
 *   P:logged         the number of the last entry added to P:log
 *   P:topic:<topic>  stream of one topic's retained history (fields e, d), same ids as in P:log
 *   P:topics         set of topics with history or eviction records
 *   P:evicted        hash topic -> newest id that left that topic's history (to detect gaps exactly)
 *   P:forgotten      newest eviction id of topics whose records were dropped (answers conservatively)
 *   P:epoch          random value drawn when the namespace's data is created: ids carry it, so an id
 *                    from data that Redis lost is recognised as unknown instead of mistaken for a position
 *   P:epochs         hash epoch -> the log's last id when that epoch began: its entries all come after
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
local function field_of(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
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
 * Keeps the namespace's epoch honest, before anything is appended (shared by the append and the
 * check scripts). The caller says the newest log entry it has seen (knownEpoch, knownId, knownN:
 * delivered to it, or appended by it; '' if none).
 *
 * Invariant: within one epoch an id names one event, and every id handed out is above every id
 * handed out before it. Redis replicates asynchronously, so a replica promoted by Sentinel (or a
 * Redis restarted without its data) may lack the newest entries, and XADD '*' would go on from its
 * own last id: it could hand out again an id some client already holds, for another event. So:
 * - the entry the caller saw must still be in the log with its number n (unless trimming took it:
 *   older than the first entry); if not, or if the epoch key itself is gone, events were lost, and a
 *   new epoch is drawn: every id from before becomes unknown (a resume from one gets ssehub.reset),
 *   and each instance's reader, meeting an entry of the new epoch, tells its streams (delivery gap);
 * - the log's last id is raised to the caller's knownId, so the next XADD hands out ids above every
 *   id this caller has seen, in whichever epoch.
 * Returns { epoch, lostAfter }: when a loss was found here, lostAfter is the id of the newest entry
 * still in the log below knownId (what the caller saw after it, up to knownId, is gone); else ''.
 */
const EPOCH_HELPERS = `
local function last_id(log)
  if redis.call('EXISTS', log) == 0 then return '0-0' end
  return field_of(redis.call('XINFO', 'STREAM', log), 'last-generated-id')
end
local function raise_last_id(log, id)
  if not newer(id, last_id(log)) then return end
  if redis.call('EXISTS', log) == 1 then
    redis.call('XSETID', log, id)
  else
    -- XSETID needs the stream: create it empty, its last id set by the entry added and taken back.
    redis.call('XADD', log, id, 'x', '')
    redis.call('XDEL', log, id)
  end
end
local function ensure_epoch(epochKey, epochsKey, log, newEpoch, knownEpoch, knownId, knownN)
  local epoch = redis.call('GET', epochKey)
  local lost = false
  if knownId ~= '' and not epoch then
    lost = true
  elseif knownId ~= '' and epoch == knownEpoch then
    local entry = redis.call('XRANGE', log, knownId, knownId)
    if #entry == 0 then
      local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
      lost = #first == 0 or not newer(first[1][1], knownId)
    else
      lost = field_of(entry[1][2], 'n') ~= knownN
    end
  end
  local lostAfter = ''
  if lost then
    local before = redis.call('XREVRANGE', log, '(' .. knownId, '-', 'COUNT', 1)
    lostAfter = #before > 0 and before[1][1] or '0-0'
  end
  if knownId ~= '' then raise_last_id(log, knownId) end
  if lost or not epoch then
    epoch = newEpoch
    redis.call('SET', epochKey, epoch)
    redis.call('HSET', epochsKey, epoch, last_id(log))
  end
  return { epoch, lostAfter }
end
`;

/** KEYS: log, epoch, epochs. ARGV: newEpoch, knownEpoch, knownId, knownN (see EPOCH_HELPERS). */
export const CHECK_SCRIPT = `${ID_HELPERS}${EPOCH_HELPERS}
return ensure_epoch(KEYS[2], KEYS[3], KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`;

/**
 * KEYS: log, topics, evicted, epoch, logged, epochs, and the dedupe key (P:dedupe:<key>) if the append has one.
 * ARGV: prefix, logMaxLen, newEpoch, dedupeWindowMs (0 without a dedupe key), knownEpoch, knownId,
 * knownN (see EPOCH_HELPERS), then (topic, event, data, maxEvents, maxAgeMs) per event, the last two
 * the topic's retention; event '' means none.
 * Returns { epoch, replayed, lostAfter, lastN, id1, id2, ... }: replayed is 1 when the dedupe key
 * was found, and then nothing was appended and epoch and ids are those of the append that stored it;
 * lastN is the number n of the last entry appended.
 */
export const APPEND_SCRIPT = `${ID_HELPERS}${EPOCH_HELPERS}
local log, topics, evicted, epochKey, logged, epochsKey, dedupeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local prefix, logMax = ARGV[1], ARGV[2]
-- Checked in the same script as the append, so of two instances appending with one key, one stores.
if dedupeKey then
  local first = redis.call('GET', dedupeKey)
  if first then
    local result = {}
    for part in string.gmatch(first, '%S+') do result[#result + 1] = part end
    table.insert(result, 2, 1)
    table.insert(result, 3, '')
    table.insert(result, 4, 0)
    return result
  end
end
local checked = ensure_epoch(epochKey, epochsKey, log, ARGV[3], ARGV[5], ARGV[6], ARGV[7])
local epoch = checked[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local result = { epoch, 0, checked[2], 0 }
for i = 8, #ARGV, 5 do
  local topic, event, data, maxEvents, maxAge = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local n = redis.call('INCR', logged)
  local id = redis.call('XADD', log, 'MAXLEN', '~', logMax, '*', 't', topic, 'e', event, 'd', data, 'n', n, 'p', epoch)
  result[4] = n
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
  for i = 5, #result do ids[#ids + 1] = result[i] end
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
