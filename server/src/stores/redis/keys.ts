/**
 * Builds every Redis key of the chat stores, so this file lists all of them.
 *
 * A key is the prefix, a kind such as `conv`, then `:` and an id. Node sets
 * add `:sockets`, and a key that a deployment has only one of, such as the
 * conversation counter or the push due set, has no id. No kind followed
 * by `:` starts another kind, so different ids never produce the same key.
 * Two deployments that share one Redis stay apart when neither prefix starts
 * with the other.
 *
 * Lua scripts touch several of these keys in one call. In Redis Cluster all
 * keys of one call must hash to one slot, so a cluster deployment needs a
 * hash tag in its prefix, such as `chat:{production}:`.
 * NOTE: that hash tag puts the whole deployment on one cluster shard.
 */
export interface RedisKeys {
  /** The prefix itself, for SCAN patterns over all keys of a deployment. */
  readonly prefix: string;
  /** String: the conversation as JSON. */
  conversation(conversationId: string): string;
  /** String: counter that orders conversations by creation. */
  conversationCounter(): string;
  /** Sorted set: ids of the user's conversations, scored by creation order. */
  userConversations(userId: string): string;
  /** List: JSON of the kept messages, oldest first. */
  messages(conversationId: string): string;
  /** String: seq of the newest message ever appended, trimmed or not. */
  lastSeq(conversationId: string): string;
  /** Hash: `senderId \0 clientMessageId` to seq, for each kept message. */
  clientMessageIds(conversationId: string): string;
  /** Hash: conversation id to the user's read seq. */
  readSeqs(userId: string): string;
  /** String with a TTL: messages the user sent in the current send-quota window. */
  sendQuota(userId: string): string;
  /** Hash: socket id to the JSON of that socket's DeviceAttention. */
  devices(userId: string): string;
  /** Set: the sockets connected to one server node, to clean up after that node dies. */
  nodeSockets(nodeId: string): string;
  /** Sorted set: node ids, scored by the epoch ms at which their lease ends. */
  nodes(): string;
  /** Pub/sub channel on which a node receives delivery requests from its peers. */
  nodeInbox(nodeId: string): string;
  /** String with a TTL: held by the node that cleans up after a dead node. */
  nodeSweepLock(nodeId: string): string;
  /** String with a TTL: marks an idempotency key as used. */
  idempotency(key: string): string;
  /** String: the user's push preferences as JSON. */
  preferences(userId: string): string;
  /** List: JSON of the user's push decisions, newest first. */
  pushDecisions(userId: string): string;
  /** Sorted set: the user's push send times in the budget window, scored by epoch ms. */
  pushBudget(userId: string): string;
  /** Hash: push batch key to the pending batch, in the record format of encodePushBatchRecord. */
  pushBatches(): string;
  /** Sorted set: keys of pending push batches, scored by due time in epoch ms. */
  pushDue(): string;
  /** Hash: claim id to the record of a batch that a node is handing to its handler. */
  pushClaims(): string;
  /** Sorted set: claim ids, scored by the epoch ms at which their lease expires. */
  pushLeases(): string;
  /** String with a TTL: highest message seq pushed or settled for one push batch key. */
  pushSettled(batchKey: string): string;
}

/** Returns the key builder for one deployment. The prefix usually ends with `:`. */
export function redisKeys(prefix: string): RedisKeys {
  if (prefix.length === 0) {
    throw new RangeError(
      "Redis key prefix must not be empty, such as chat: or chat:{production}:",
    );
  }
  return {
    prefix,
    conversation: (conversationId) => `${prefix}conv:${conversationId}`,
    conversationCounter: () => `${prefix}conv-counter`,
    userConversations: (userId) => `${prefix}user-convs:${userId}`,
    messages: (conversationId) => `${prefix}msgs:${conversationId}`,
    lastSeq: (conversationId) => `${prefix}msg-seq:${conversationId}`,
    clientMessageIds: (conversationId) =>
      `${prefix}msg-client-ids:${conversationId}`,
    readSeqs: (userId) => `${prefix}reads:${userId}`,
    sendQuota: (userId) => `${prefix}send-quota:${userId}`,
    devices: (userId) => `${prefix}devices:${userId}`,
    nodeSockets: (nodeId) => `${prefix}node:${nodeId}:sockets`,
    idempotency: (key) => `${prefix}idem:${key}`,
    nodes: () => `${prefix}nodes`,
    nodeSweepLock: (nodeId) => `${prefix}node-sweep:${nodeId}`,
    nodeInbox: (nodeId) => `${prefix}node-inbox:${nodeId}`,
    preferences: (userId) => `${prefix}prefs:${userId}`,
    pushDecisions: (userId) => `${prefix}push-decisions:${userId}`,
    pushBudget: (userId) => `${prefix}push-budget:${userId}`,
    pushBatches: () => `${prefix}push-batches`,
    pushDue: () => `${prefix}push-due`,
    pushClaims: () => `${prefix}push-claims`,
    pushLeases: () => `${prefix}push-leases`,
    pushSettled: (batchKey) => `${prefix}push-settled:${batchKey}`,
  };
}
