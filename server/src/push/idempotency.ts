import { createHash } from "node:crypto";

/** Namespace of this server's name-based idempotency keys (a random v4 UUID, fixed forever). */
const NAMESPACE = "6c0a3f1e-2d4b-4c7e-9f81-3b5d2a7e9c14";

const namespaceBytesOf = (namespace: string) =>
  Buffer.from(namespace.replaceAll("-", ""), "hex");

const DEFAULT_NAMESPACE_BYTES = namespaceBytesOf(NAMESPACE);

/** Builds an RFC 9562 version 5 (SHA-1, name-based) UUID. */
export function uuidV5(name: string, namespace = NAMESPACE): string {
  const namespaceBytes =
    namespace === NAMESPACE
      ? DEFAULT_NAMESPACE_BYTES
      : namespaceBytesOf(namespace);
  const hash = createHash("sha1")
    .update(namespaceBytes)
    .update(name, "utf8")
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Idempotency key of one push batch. It is derived from the recipient, the
 * topic and the newest item, so a retry of the same batch reuses it and any
 * later batch (which has a newer item) gets a new one.
 */
export function batchIdempotencyKey(
  recipientId: string,
  topic: string,
  lastItemId: string,
): string {
  return uuidV5(`${recipientId}\u0000${topic}\u0000${lastItemId}`);
}

/**
 * Idempotency key of one request that pushes the same notification to
 * several recipients: a version 5 UUID of the sorted recipient ids, the
 * topic and the newest item. With one recipient it equals
 * batchIdempotencyKey, because user ids cannot contain a comma.
 *
 * OneSignalSender retries a request with the same body, key included, and
 * for a key repeated within 30 days OneSignal returns the first result and
 * sends nothing (its idempotent-requests documentation).
 * A batch that fires again (its Redis lease expired mid-send, or the
 * process died before settling) is coalesced anew, usually
 * with other recipients, so it gets a different key and its recipients can
 * get the push twice. The per-conversation collapse_id then replaces the
 * first push on the device instead of showing a second one. Keeping one key
 * per recipient would need one request per recipient, which OneSignal's
 * rate limit of 6,000 requests/s per app (paid plans) does not allow at
 * this volume.
 */
export function coalescedIdempotencyKey(
  recipientIds: readonly string[],
  topic: string,
  lastItemId: string,
): string {
  const recipients = [...recipientIds].sort().join(",");
  return uuidV5(`${recipients}\u0000${topic}\u0000${lastItemId}`);
}
