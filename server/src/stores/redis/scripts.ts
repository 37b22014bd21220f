import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Lua scripts of the Redis stores. Redis runs each script as one atomic step,
 * so no other client sees or changes the keys in between. Every script takes
 * all of its keys through KEYS, as Redis Cluster requires.
 */
export interface LuaScript {
  /** Name of the script, to tell the scripts apart when reading or debugging; Redis identifies them by SHA1. */
  name: string;
  lua: string;
}

/**
 * Stores a conversation unless its id exists, and adds the id to each
 * member's sorted set, scored by a counter so that order follows creation.
 *
 * KEYS: conversation, conversation counter, then one sorted set per member.
 * ARGV: conversation JSON, conversation id.
 * Returns {1, json} when created, {0, stored json} when it existed.
 */
const createConversation: LuaScript = {
  name: "chatStoreCreateConversation",
  lua: `
local existing = redis.call('GET', KEYS[1])
if existing then
  return {0, existing}
end
redis.call('SET', KEYS[1], ARGV[1])
local order = redis.call('INCR', KEYS[2])
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], order, ARGV[2])
end
return {1, ARGV[1]}
`,
};

/**
 * Appends a message, unless the sender's client message id is still kept,
 * raises the sender's read position to it, then trims the list to the
 * history limit. With a quota key, the call first counts against the
 * sender's fixed window and stores nothing when that is over the limit.
 *
 * The draft JSON comes without seq, and the script splices `"seq":N` in
 * front of its first field, so the message is JSON-encoded only once, in
 * Node.js. cjson decodes only the trimmed messages, to find their client
 * message ids.
 *
 * KEYS: messages list, last seq, client message id hash, the sender's read
 * positions, and optionally the sender's quota counter.
 * ARGV: draft JSON (an object with at least one field), sender id,
 * client message id, history limit, conversation id, and with the quota
 * key the quota limit and window in ms.
 * Returns {2, ms until the window ends} over quota, {1, original json} for
 * a duplicate, {0, seq} for a new message.
 */
const appendMessage: LuaScript = {
  name: "chatStoreAppendMessage",
  lua: `
if KEYS[5] then
  local used = redis.call('INCR', KEYS[5])
  if used == 1 then
    redis.call('PEXPIRE', KEYS[5], ARGV[7])
  end
  if used > tonumber(ARGV[6]) then
    local ttl = redis.call('PTTL', KEYS[5])
    if ttl < 0 then
      -- A counter without expiry would block the sender for good.
      redis.call('PEXPIRE', KEYS[5], ARGV[7])
      ttl = tonumber(ARGV[7])
    end
    return {2, ttl}
  end
end

local field = ARGV[2] .. '\\0' .. ARGV[3]
local keptCount = redis.call('LLEN', KEYS[1])
local lastSeq = tonumber(redis.call('GET', KEYS[2]) or '0')
local originalSeq = redis.call('HGET', KEYS[3], field)
if originalSeq then
  local index = tonumber(originalSeq) - (lastSeq - keptCount + 1)
  if index >= 0 and index < keptCount then
    local original = redis.call('LINDEX', KEYS[1], index)
    if original then
      return {1, original}
    end
  end
end

local seq = redis.call('INCR', KEYS[2])
local seqText = string.format('%d', seq)
redis.call('RPUSH', KEYS[1], '{"seq":' .. seqText .. ',' .. string.sub(ARGV[1], 2))
redis.call('HSET', KEYS[3], field, seqText)
-- The new seq is the newest, so it is never below the stored position.
redis.call('HSET', KEYS[4], ARGV[5], seqText)

local excess = keptCount + 1 - tonumber(ARGV[4])
for _ = 1, excess do
  local oldest = redis.call('LPOP', KEYS[1])
  if not oldest then
    break
  end
  local old = cjson.decode(oldest)
  local oldField = old.senderId .. '\\0' .. old.clientMessageId
  -- Delete the entry only while it points at this message, not at a newer one.
  if tonumber(redis.call('HGET', KEYS[3], oldField)) == old.seq then
    redis.call('HDEL', KEYS[3], oldField)
  end
end
return {0, seq}
`,
};

/**
 * Reads a page of messages. The kept messages are the seqs
 * lastSeq - keptCount + 1 .. lastSeq, so list indices follow from the seq bounds.
 *
 * KEYS: messages list, last seq.
 * ARGV: mode ("newest", "before" or "after"), bound seq (ignored for
 * "newest"), limit.
 * Returns {firstSeq, hasMore as 1 or 0, {message json, ...}}.
 */
const rangeMessages: LuaScript = {
  name: "chatStoreRangeMessages",
  lua: `
local keptCount = redis.call('LLEN', KEYS[1])
local lastSeq = tonumber(redis.call('GET', KEYS[2]) or '0')
local firstSeq = lastSeq - keptCount + 1
local mode = ARGV[1]
local bound = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])

local startIndex
local endIndex
local hasMore
if mode == 'after' then
  startIndex = math.max(0, bound + 1 - firstSeq)
  endIndex = math.min(keptCount, startIndex + limit)
  hasMore = endIndex < keptCount
else
  if mode == 'before' then
    endIndex = math.min(keptCount, math.max(0, bound - firstSeq))
  else
    endIndex = keptCount
  end
  startIndex = math.max(0, endIndex - limit)
  hasMore = startIndex > 0
end

local messages = {}
if endIndex > startIndex then
  messages = redis.call('LRANGE', KEYS[1], startIndex, endIndex - 1)
end
return {firstSeq, hasMore and 1 or 0, messages}
`,
};

/**
 * Raises a read position, never lowers it.
 *
 * KEYS: the user's read seq hash. ARGV: conversation id, seq.
 * Returns the position stored after the call.
 */
const markRead: LuaScript = {
  name: "chatStoreMarkRead",
  lua: `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local seq = tonumber(ARGV[2])
if seq <= current then
  return current
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return seq
`,
};

/**
 * Records a socket and adds it to its node's set.
 *
 * KEYS: the user's device hash, the node's socket set.
 * ARGV: socket id, device JSON, node socket set member.
 * Returns 1 when the user had no device before, else 0.
 */
const addDevice: LuaScript = {
  name: "chatStoreAddDevice",
  lua: `
local first = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if first then
  return 1
end
return 0
`,
};

/**
 * Applies an attention patch to a recorded socket.
 *
 * cjson re-encodes the device, and it writes numbers with 14 significant
 * digits, which keeps epoch milliseconds exact until the year 5138.
 *
 * KEYS: the user's device hash.
 * ARGV: socket id, patch JSON with only appState and openConversationId
 * (null clears it), changedAt in epoch milliseconds.
 * Returns {before json, after json}, or nil when the socket is not recorded.
 */
const updateDevice: LuaScript = {
  name: "chatStoreUpdateDevice",
  lua: `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
  return false
end
local device = cjson.decode(stored)
local patch = cjson.decode(ARGV[2])
if patch.appState ~= nil then
  device.appState = patch.appState
end
if patch.openConversationId ~= nil then
  device.openConversationId = patch.openConversationId
end
if patch.ackMissedAt ~= nil then
  device.ackMissedAt = patch.ackMissedAt
end
device.changedAt = tonumber(ARGV[3])
local updated = cjson.encode(device)
redis.call('HSET', KEYS[1], ARGV[1], updated)
return {stored, updated}
`,
};

/**
 * Forgets a socket and removes it from its node's set, provided its entry
 * still equals the JSON that the caller read to find the node.
 *
 * KEYS: the user's device hash, the node's socket set.
 * ARGV: socket id, device JSON as read, node socket set member.
 * Returns {status, 1 when no device is left else 0}. The status is 1 when
 * removed, 0 when the socket is not recorded, and -1 when the entry changed
 * since the caller read it.
 */
const removeDevice: LuaScript = {
  name: "chatStoreRemoveDevice",
  lua: `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then
  return {0, 0}
end
if stored ~= ARGV[2] then
  return {-1, 0}
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {1, 1}
end
return {1, 0}
`,
};

/** Runs a script with EVALSHA, falling back to EVAL once when Redis does not have it cached. */
export type ScriptRunner = (
  keys: string[],
  args: (string | number)[],
) => Promise<unknown>;

export interface StoreScripts {
  createConversation: ScriptRunner;
  appendMessage: ScriptRunner;
  rangeMessages: ScriptRunner;
  markRead: ScriptRunner;
  addDevice: ScriptRunner;
  updateDevice: ScriptRunner;
  removeDevice: ScriptRunner;
}

/** Returns the runners of the store scripts on the connection. */
export function defineStoreScripts(redis: Redis): StoreScripts {
  const define = (script: LuaScript) => defineLuaScript(redis, script);
  return {
    createConversation: define(createConversation),
    appendMessage: define(appendMessage),
    rangeMessages: define(rangeMessages),
    markRead: define(markRead),
    addDevice: define(addDevice),
    updateDevice: define(updateDevice),
    removeDevice: define(removeDevice),
  };
}

/**
 * Returns a runner that calls the script by its SHA1 with EVALSHA, and
 * with EVAL, which also caches it in Redis, when Redis replies NOSCRIPT
 * (first use, or after a restart or SCRIPT FLUSH).
 *
 * The scripts are not registered with ioredis `defineCommand`: ioredis
 * copies every registered script onto each Pipeline it builds, and with
 * autopipelining it builds one per event-loop tick, so registered scripts
 * made every Redis round trip allocate a large object.
 */
export function defineLuaScript(redis: Redis, script: LuaScript): ScriptRunner {
  const sha = createHash("sha1").update(script.lua).digest("hex");
  return async (keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) {
        throw error;
      }
      return await redis.eval(script.lua, keys.length, ...keys, ...args);
    }
  };
}
