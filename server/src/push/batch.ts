import {
  PUSH_BATCH_ACTORS_KEPT,
  PUSH_BATCH_ITEMS_KEPT,
  type PushBatch,
  type PushQueueEntry,
  type PushTiming,
} from "../stores/types.js";

export function pushBatchKey(
  kind: PushBatch["kind"],
  recipientId: string,
  topic: string,
): string {
  return `${kind}|${recipientId}|${topic}`;
}

/** Due time of a batch: debounced from `now`, capped at maxWaitMs after its first item. */
export function dueTime(
  firstAt: number,
  now: number,
  timing: PushTiming,
): number {
  return Math.min(now + timing.debounceMs, firstAt + timing.maxWaitMs);
}

function addActor(actors: PushBatch["actors"], id: string, name: string) {
  if (actors.length >= PUSH_BATCH_ACTORS_KEPT) return;
  if (!actors.some((actor) => actor.id === id)) actors.push({ id, name });
}

/** Returns `batch` with the entry's item added, or a new batch when `batch` is undefined. */
export function addToBatch(
  batch: PushBatch | undefined,
  entry: PushQueueEntry,
): PushBatch {
  const next: PushBatch = batch
    ? { ...batch, items: [...batch.items], actors: [...batch.actors] }
    : {
        key: pushBatchKey(entry.kind, entry.recipientId, entry.topic),
        kind: entry.kind,
        recipientId: entry.recipientId,
        topic: entry.topic,
        items: [],
        count: 0,
        actors: [],
        lastSeq: 0,
        firstAt: entry.item.at,
        dueAt: entry.item.at,
        meta: {},
      };
  next.items.push(entry.item);
  if (next.items.length > PUSH_BATCH_ITEMS_KEPT) next.items.shift();
  next.count += 1;
  addActor(next.actors, entry.item.actorId, entry.item.actorName);
  next.lastSeq = Math.max(next.lastSeq, entry.item.seq);
  next.meta = { ...next.meta, ...entry.meta };
  return next;
}

/**
 * Merges a batch that was put back (`older`) with one created for the same
 * key since (`newer`). The result fires at the later of the two due times.
 */
export function mergeBatches(older: PushBatch, newer: PushBatch): PushBatch {
  const actors = [...older.actors];
  for (const actor of newer.actors) addActor(actors, actor.id, actor.name);
  return {
    ...older,
    items: [...older.items, ...newer.items].slice(-PUSH_BATCH_ITEMS_KEPT),
    count: older.count + newer.count,
    actors,
    lastSeq: Math.max(older.lastSeq, newer.lastSeq),
    firstAt: Math.min(older.firstAt, newer.firstAt),
    dueAt: Math.max(older.dueAt, newer.dueAt),
    meta: { ...older.meta, ...newer.meta },
  };
}
