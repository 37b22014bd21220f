import {
  AppError,
  MAX_MUTED_CONVERSATIONS,
  type Preferences,
  type PreferencesPatch,
} from "../protocol/index.js";

export function defaultPreferences(): Preferences {
  return {
    pushEnabled: true,
    quietHours: null,
    snoozeUntil: null,
    mutedConversations: {},
    disabledActivities: [],
  };
}

/**
 * Returns `current` with the patch applied and expired mutes dropped. Both
 * store implementations use it, so they cannot disagree on the rules.
 * Throws payload_too_large past MAX_MUTED_CONVERSATIONS.
 */
export function applyPreferencesPatch(
  current: Preferences,
  patch: PreferencesPatch,
  now: number,
): Preferences {
  const next: Preferences = {
    ...current,
    mutedConversations: { ...current.mutedConversations },
  };
  if (patch.pushEnabled !== undefined) next.pushEnabled = patch.pushEnabled;
  if (patch.quietHours !== undefined) next.quietHours = patch.quietHours;
  if (patch.snoozeUntil !== undefined) {
    next.snoozeUntil =
      patch.snoozeUntil === null
        ? null
        : new Date(patch.snoozeUntil).toISOString();
  }
  for (const { conversationId, until } of patch.mute ?? []) {
    next.mutedConversations[conversationId] = until
      ? new Date(until).toISOString()
      : null;
  }
  for (const conversationId of patch.unmute ?? []) {
    delete next.mutedConversations[conversationId];
  }
  if (patch.disabledActivities !== undefined) {
    next.disabledActivities = [...new Set(patch.disabledActivities)];
  }

  for (const [conversationId, until] of Object.entries(
    next.mutedConversations,
  )) {
    if (until !== null && Date.parse(until) <= now) {
      delete next.mutedConversations[conversationId];
    }
  }
  if (next.snoozeUntil !== null && Date.parse(next.snoozeUntil) <= now) {
    next.snoozeUntil = null;
  }
  const mutedCount = Object.keys(next.mutedConversations).length;
  if (mutedCount > MAX_MUTED_CONVERSATIONS) {
    throw new AppError(
      "payload_too_large",
      `mute: at most ${MAX_MUTED_CONVERSATIONS} muted conversations, got ${mutedCount}`,
    );
  }
  return next;
}

/** Returns whether the conversation is muted at `now`. */
export function isMuted(
  preferences: Preferences,
  conversationId: string,
  now: number,
): boolean {
  if (!(conversationId in preferences.mutedConversations)) return false;
  const until = preferences.mutedConversations[conversationId];
  return until === null || until === undefined || Date.parse(until) > now;
}

/** Minutes since local midnight of `now` in `timeZone`. */
function localMinutes(now: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(now);
  const hour = Number(parts.find((part) => part.type === "hour")?.value);
  const minute = Number(parts.find((part) => part.type === "minute")?.value);
  return hour * 60 + minute;
}

const toMinutes = (clock: string) =>
  Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/**
 * Returns whether pushes are held back at `now` by a snooze or by the daily quiet
 * hours. Quiet hours include `start` and exclude `end`, and a window whose
 * end is earlier than its start spans midnight (22:00 to 07:00).
 */
export function isQuiet(preferences: Preferences, now: number): boolean {
  if (
    preferences.snoozeUntil !== null &&
    Date.parse(preferences.snoozeUntil) > now
  ) {
    return true;
  }
  const hours = preferences.quietHours;
  if (!hours) return false;
  const minutes = localMinutes(now, hours.timeZone);
  const start = toMinutes(hours.start);
  const end = toMinutes(hours.end);
  return start < end
    ? minutes >= start && minutes < end
    : minutes >= start || minutes < end;
}
