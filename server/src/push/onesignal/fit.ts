import { shortenText } from "../text.js";
import {
  ONESIGNAL_LIMITS,
  payloadBytes,
  type NotificationRequest,
} from "./schema.js";

const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });

/** Rounds of shortening before giving up; each halves the longest text. */
const MAX_ROUNDS = 40;

/**
 * Shortens the headings and contents of a request, longest text first,
 * until the body without its recipient list fits OneSignal's size limit. A push that is too long
 * is better sent shorter than not sent. Returns the request unchanged when
 * it already fits; when it still does not fit after MAX_ROUNDS, the schema
 * check rejects it.
 */
export function fitNotification(
  request: NotificationRequest,
): NotificationRequest {
  if (payloadBytes(request) <= ONESIGNAL_LIMITS.bodyBytes) return request;
  const fitted: NotificationRequest = {
    ...request,
    headings: { ...request.headings },
    contents: { ...request.contents },
  };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (payloadBytes(fitted) <= ONESIGNAL_LIMITS.bodyBytes) break;
    const fields = [fitted.headings, fitted.contents].flatMap((map) =>
      Object.keys(map).map((language) => ({ map, language })),
    );
    const longest = fields.reduce((best, field) =>
      field.map[field.language]!.length > best.map[best.language]!.length
        ? field
        : best,
    );
    const text = longest.map[longest.language]!;
    const graphemes = [...segmenter.segment(text)].length;
    longest.map[longest.language] = shortenText(
      text,
      Math.max(8, Math.floor(graphemes / 2)),
    );
  }
  return fitted;
}
