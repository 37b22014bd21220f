import { createHash } from "node:crypto";

/** Namespace of this server's name-based idempotency keys (a random v4 UUID, fixed forever). */
const NAMESPACE = "6c0a3f1e-2d4b-4c7e-9f81-3b5d2a7e9c14";

/** Builds an RFC 9562 version 5 (SHA-1, name-based) UUID. */
export function uuidV5(name: string, namespace = NAMESPACE): string {
  const namespaceBytes = Buffer.from(namespace.replaceAll("-", ""), "hex");
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
