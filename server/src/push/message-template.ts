import { joinNames, shortenText } from "./text.js";

/** Graphemes of message text quoted in a push. */
export const PUSH_PREVIEW_LENGTH = 100;
/** Graphemes of a sender name or conversation title in a push. */
export const PUSH_NAME_LENGTH = 50;

export interface MessagePushInput {
  conversationKind: "direct" | "group";
  conversationTitle: string | null;
  /** Messages not yet seen, oldest first; at least one. */
  messages: { senderName: string; text: string }[];
  /** All unseen messages, which may be more than `messages` holds. */
  count: number;
  /** False leaves every message text out of the push. */
  includeContent: boolean;
}

/**
 * Renders the heading and content of a message push, in English:
 * "New message" / "New message from Anna: 'Hey, you around?'" for one
 * message, "Anna" / "3 new messages from Anna: 'latest text'" for a burst.
 * A group push is headed by the conversation's title.
 */
export function renderMessagePush(input: MessagePushInput): {
  heading: string;
  content: string;
} {
  // A name made only of characters that cleaning removes falls back to a word.
  const name = (raw: string) => shortenText(raw, PUSH_NAME_LENGTH) || "Someone";
  const last = input.messages.at(-1)!;
  const lastSender = name(last.senderName);
  const senders = [...new Set(input.messages.map((m) => name(m.senderName)))];
  const quote = input.includeContent
    ? `: '${shortenText(last.text, PUSH_PREVIEW_LENGTH)}'`
    : "";
  const groupTitle =
    (input.conversationTitle &&
      shortenText(input.conversationTitle, PUSH_NAME_LENGTH)) ||
    "Group conversation";

  if (input.count === 1) {
    const where = input.conversationKind === "group" ? ` in ${groupTitle}` : "";
    return {
      heading: input.conversationKind === "group" ? groupTitle : "New message",
      content: `New message from ${lastSender}${where}${quote}`,
    };
  }
  const from = joinNames(senders);
  return {
    heading: input.conversationKind === "group" ? groupTitle : lastSender,
    content: `${input.count} new messages from ${from}${quote}`,
  };
}
