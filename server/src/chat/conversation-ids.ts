import { createHash, randomUUID } from "node:crypto";

/**
 * Id of the direct conversation between two users. It is derived from the
 * sorted pair, so both users reach the same conversation, no matter which one creates it.
 */
export function directConversationId(userA: string, userB: string): string {
  const [first, second] = userA < userB ? [userA, userB] : [userB, userA];
  const hash = createHash("sha256")
    .update(`${first}\u0000${second}`)
    .digest("base64url");
  return `dm_${hash.slice(0, 32)}`;
}

export function groupConversationId(): string {
  return `grp_${randomUUID()}`;
}
