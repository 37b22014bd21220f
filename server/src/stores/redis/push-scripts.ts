import type { Redis } from "ioredis";
import {
  defineLuaScript,
  type LuaScript,
  type ScriptRunner,
} from "./scripts.js";

/**
 * Lua scripts of the Redis push stores. Like those in scripts.ts, each runs
 * as one atomic step and takes all of its keys through KEYS. They decode
 * and encode push batch records with cjson, in the format that
 * encodePushBatchRecord in records.ts describes.
 */

/**
 * Lua helpers shared by the scripts that merge batches. `mergeRecords`
 * follows mergeBatches in server/src/push/batch.ts. It keeps the newest
 * items of both and adds the counts. It takes the actors in first-seen
 * order up to the cap, the highest lastSeq, the earliest firstAt, the later
 * dueAt, and the meta of `newer` over that of `older`.
 */
const mergeHelpers = `
local function formatNumber(value)
  -- 17 significant digits print every double exactly, unlike cjson's 14.
  return string.format('%.17g', value)
end

local function mergeRecords(older, newer, itemsKept, actorsKept)
  local items = {}
  for _, item in ipairs(older.items) do
    items[#items + 1] = item
  end
  for _, item in ipairs(newer.items) do
    items[#items + 1] = item
  end
  local keptItems = {}
  for i = math.max(1, #items - itemsKept + 1), #items do
    keptItems[#keptItems + 1] = items[i]
  end

  local actors = {}
  for _, actor in ipairs(older.actors) do
    actors[#actors + 1] = actor
  end
  for _, actor in ipairs(newer.actors) do
    if #actors >= actorsKept then
      break
    end
    local seen = false
    for _, known in ipairs(actors) do
      if known[1] == actor[1] then
        seen = true
        break
      end
    end
    if not seen then
      actors[#actors + 1] = actor
    end
  end

  local meta = {}
  for name, value in pairs(older.meta) do
    meta[name] = value
  end
  for name, value in pairs(newer.meta) do
    meta[name] = value
  end

  return {
    head = older.head,
    items = keptItems,
    count = formatNumber(tonumber(older.count) + tonumber(newer.count)),
    actors = actors,
    lastSeq = formatNumber(math.max(tonumber(older.lastSeq), tonumber(newer.lastSeq))),
    firstAt = formatNumber(math.min(tonumber(older.firstAt), tonumber(newer.firstAt))),
    dueAt = formatNumber(math.max(tonumber(older.dueAt), tonumber(newer.dueAt))),
    meta = meta,
  }
end
`;

/**
 * Adds one item to the pending batch of its key, or stores a new batch, and
 * moves the batch's due time to min(now + debounceMs, firstAt + maxWaitMs),
 * as dueTime in server/src/push/batch.ts does.
 *
 * KEYS: batch hash, due sorted set.
 * ARGV: batch key, record of a new batch that holds only the item, now,
 * debounceMs, maxWaitMs, items kept, actors kept.
 * Returns the new due time as decimal text.
 */
const addToBatch: LuaScript = {
  name: "pushStoreAddToBatch",
  lua: `${mergeHelpers}
local record = cjson.decode(ARGV[2])
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local current = cjson.decode(stored)
  record = mergeRecords(current, record, tonumber(ARGV[6]), tonumber(ARGV[7]))
  -- Adding keeps the first item's time even when the new item is older,
  -- so a node with a slow clock cannot postpone the maxWaitMs cap.
  record.firstAt = current.firstAt
end
local debounced = tonumber(ARGV[3]) + tonumber(ARGV[4])
local capped = tonumber(record.firstAt) + tonumber(ARGV[5])
record.dueAt = formatNumber(math.min(debounced, capped))
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
redis.call('ZADD', KEYS[2], record.dueAt, ARGV[1])
return record.dueAt
`,
};

/**
 * Puts a batch back, merged with a batch stored for its key since it was
 * claimed. The merged batch fires at the later of the two due times.
 *
 * KEYS: batch hash, due sorted set.
 * ARGV: batch key, record of the batch put back (its dueAt already set),
 * items kept, actors kept.
 * Returns the due time as decimal text.
 */
const deferBatch: LuaScript = {
  name: "pushStoreDeferBatch",
  lua: `${mergeHelpers}
local encoded = ARGV[2]
local record = cjson.decode(ARGV[2])
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  record = mergeRecords(record, cjson.decode(stored), tonumber(ARGV[3]), tonumber(ARGV[4]))
  encoded = cjson.encode(record)
end
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('ZADD', KEYS[2], record.dueAt, ARGV[1])
return record.dueAt
`,
};

/**
 * Deletes a pending batch, unless `upToSeq` is given and the batch contains
 * a seq above it.
 *
 * KEYS: batch hash, due sorted set.
 * ARGV: batch key, upToSeq or an empty string for none.
 * Returns 1 when the batch was deleted, else 0.
 */
const cancelBatch: LuaScript = {
  name: "pushStoreCancelBatch",
  lua: `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
  return 0
end
if ARGV[2] ~= '' and tonumber(cjson.decode(stored).lastSeq) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`,
};

/**
 * Claims batches for one node: first claims whose lease expired, because
 * the node that held them died or stalled, then pending batches that are
 * due. Each claim gets a new id, stored with the batch record in the claim
 * hash and scored by lease expiry in the lease set. An expired claim loses
 * its old id, so its former holder can no longer release it.
 *
 * KEYS: due sorted set, batch hash, lease sorted set, claim hash.
 * ARGV: now in epoch ms, lease in ms, maximum claims (at least 1), claim id
 * prefix that is unique to this call.
 * Returns {claim id, record, claim id, record, ...}.
 */
const claimBatches: LuaScript = {
  name: "pushStoreClaimBatches",
  lua: `
local now = tonumber(ARGV[1])
local leaseUntil = string.format('%.17g', now + tonumber(ARGV[2]))
local limit = tonumber(ARGV[3])
local reply = {}
local claimed = 0

local function claim(record)
  claimed = claimed + 1
  local claimId = ARGV[4] .. ':' .. claimed
  redis.call('HSET', KEYS[4], claimId, record)
  redis.call('ZADD', KEYS[3], leaseUntil, claimId)
  reply[#reply + 1] = claimId
  reply[#reply + 1] = record
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, limit)
for _, expiredId in ipairs(expired) do
  local record = redis.call('HGET', KEYS[4], expiredId)
  redis.call('HDEL', KEYS[4], expiredId)
  redis.call('ZREM', KEYS[3], expiredId)
  if record then
    claim(record)
  end
end

if claimed < limit then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit - claimed)
  for _, batchKey in ipairs(due) do
    local record = redis.call('HGET', KEYS[2], batchKey)
    redis.call('HDEL', KEYS[2], batchKey)
    redis.call('ZREM', KEYS[1], batchKey)
    if record then
      claim(record)
    end
  end
end
return reply
`,
};

/**
 * Raises the settled seq of a batch key, never lowers it, and restarts its
 * expiry when it raises it.
 *
 * KEYS: settled seq string. ARGV: seq, TTL in ms.
 * Returns the settled seq after the call.
 */
const settleSeq: LuaScript = {
  name: "pushStoreSettleSeq",
  lua: `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return seq
`,
};

/**
 * Takes one send from a sliding window log: drops sends at or before
 * now - windowMs, rejects the take when `limit` remain, else logs `now` and lets the
 * whole set expire windowMs after this newest send.
 *
 * KEYS: budget sorted set.
 * ARGV: now in epoch ms, window in ms (an integer), limit, unique member.
 * Returns {1, 0} when allowed, else {0, ms until the oldest send leaves
 * the window}.
 */
const takeBudget: LuaScript = {
  name: "pushStoreTakeBudget",
  lua: `
local now = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - windowMs))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] == nil then
    -- Only a limit of 0 gets here; no send will ever free one.
    return {0, windowMs}
  end
  return {0, tonumber(oldest[2]) + windowMs - now}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
`,
};

/**
 * Writes a value only when the key still contains what the caller read, for
 * an optimistic read-modify-write that is safe on a shared connection.
 *
 * KEYS: the string. ARGV: JSON as read (an empty string when the key was
 * missing; stored JSON is never empty), new JSON.
 * Returns 1 when written, 0 when the key changed since the read.
 */
const compareAndSet: LuaScript = {
  name: "pushStoreCompareAndSet",
  lua: `
local stored = redis.call('GET', KEYS[1]) or ''
if stored ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`,
};

export interface PushScripts {
  addToBatch: ScriptRunner;
  deferBatch: ScriptRunner;
  cancelBatch: ScriptRunner;
  claimBatches: ScriptRunner;
  settleSeq: ScriptRunner;
  takeBudget: ScriptRunner;
  compareAndSet: ScriptRunner;
}

/** Returns the runners of the push scripts on the connection, as defineStoreScripts does for the chat stores. */
export function definePushScripts(redis: Redis): PushScripts {
  const define = (script: LuaScript) => defineLuaScript(redis, script);
  return {
    addToBatch: define(addToBatch),
    deferBatch: define(deferBatch),
    cancelBatch: define(cancelBatch),
    claimBatches: define(claimBatches),
    settleSeq: define(settleSeq),
    takeBudget: define(takeBudget),
    compareAndSet: define(compareAndSet),
  };
}
