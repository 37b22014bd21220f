// @ts-check
// The push panel: polls the dry-run outbox and the push decision log of the
// signed-in user and lists both, newest first.
import { fetchDecisions, fetchOutbox } from "./api.js";
import { formatTime, h, renderKeyed } from "./dom.js";

/** @typedef {import("./api.js").OutboxEntry} OutboxEntry */
/** @typedef {import("./api.js").PushDecision} PushDecision */
/** @typedef {import("../server/src/protocol/events.js").PushDecisionReason} PushDecisionReason */

/** Time between two polls of the outbox and the decision log. */
export const POLL_INTERVAL_MS = 2000;
/** Entries fetched and shown per list. */
const LIST_LIMIT = 20;

/** @type {Record<PushDecisionReason, string>} */
const REASON_TEXT = {
  sent: "Push sent",
  delivered_live: "Shown in the app, no push",
  suppressed_viewing: "Seen on screen, no push",
  suppressed_read: "Read before the push was due",
  muted: "Conversation muted",
  quiet_period: "Quiet hours or snooze",
  push_disabled: "Pushes turned off",
  activity_disabled: "Activity kind turned off",
  budget_exceeded: "Over the per-minute budget, deferred",
  not_subscribed: "No OneSignal device logged in as this user",
  failed: "OneSignal rejected the push",
};

/**
 * Starts polling for `userId` and rendering into the panel's lists.
 * Returns a function that stops the polling.
 * @param {object} options
 * @param {string} options.userId
 * @param {"dry-run" | "onesignal"} options.pushMode
 * @param {HTMLElement} options.pushList
 * @param {HTMLElement} options.decisionList
 * @param {HTMLElement} options.status
 * @returns {() => void}
 */
export function startPushPanel({
  userId,
  pushMode,
  pushList,
  decisionList,
  status,
}) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  if (pushMode !== "dry-run") {
    pushList.replaceChildren(
      h("li", {
        className: "empty",
        text: "Pushes go to OneSignal, so there is no local outbox. The decision log still shows each push.",
      }),
    );
  }

  const poll = async () => {
    try {
      const [pushes, decisions] = await Promise.all([
        pushMode === "dry-run" ? fetchOutbox(userId, LIST_LIMIT) : null,
        fetchDecisions(userId, LIST_LIMIT),
      ]);
      if (stopped) return;
      if (pushes) renderPushes(pushList, pushes);
      renderDecisions(decisionList, decisions);
      status.textContent = `Updated ${formatTime(new Date().toISOString())}, every ${POLL_INTERVAL_MS / 1000} s`;
      status.classList.remove("error");
    } catch (error) {
      if (stopped) return;
      status.textContent = `Could not load pushes: ${error instanceof Error ? error.message : String(error)}`;
      status.classList.add("error");
    } finally {
      if (!stopped) timer = setTimeout(poll, POLL_INTERVAL_MS);
    }
  };
  void poll();

  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * @param {HTMLElement} list
 * @param {OutboxEntry[]} pushes newest first
 */
function renderPushes(list, pushes) {
  if (pushes.length === 0) {
    list.replaceChildren(
      h("li", { className: "empty", text: "No pushes to this user yet." }),
    );
    return;
  }
  renderKeyed(
    list,
    pushes,
    (push) => push.notificationId,
    (push) => {
      const data = push.request.data ?? {};
      const count = typeof data.count === "number" ? data.count : null;
      return h("li", { className: "push", testId: "push-item" }, [
        h("div", { className: "push-top" }, [
          h("strong", {
            testId: "push-heading",
            text: push.request.headings.en ?? "",
          }),
          h("time", { text: formatTime(push.at) }),
        ]),
        h("div", {
          testId: "push-content",
          text: push.request.contents.en ?? "",
        }),
        h("div", {
          className: "meta",
          text: [
            typeof data.type === "string" ? data.type : null,
            count !== null ? `${count} item${count === 1 ? "" : "s"}` : null,
            push.request.collapse_id
              ? `collapse_id ${push.request.collapse_id}`
              : null,
          ]
            .filter(Boolean)
            .join(" · "),
        }),
      ]);
    },
  );
}

/**
 * @param {HTMLElement} list
 * @param {PushDecision[]} decisions newest first
 */
function renderDecisions(list, decisions) {
  if (decisions.length === 0) {
    list.replaceChildren(
      h("li", { className: "empty", text: "No decisions for this user yet." }),
    );
    return;
  }
  renderKeyed(
    list,
    decisions,
    (decision) =>
      `${decision.at}|${decision.topic}|${decision.reason}|${decision.lastItemId}`,
    (decision) =>
      h(
        "li",
        {
          className: `decision reason-${decision.reason}`,
          testId: "decision-item",
          data: { reason: decision.reason },
        },
        [
          h("div", { className: "push-top" }, [
            h("code", { testId: "decision-reason", text: decision.reason }),
            h("time", { text: formatTime(decision.at) }),
          ]),
          h("div", {
            text: `${REASON_TEXT[decision.reason] ?? decision.reason}: ${decision.count} ${decision.kind}${decision.count === 1 ? "" : "s"}`,
          }),
          h("div", {
            className: "meta",
            text: [decision.topic, decision.detail].filter(Boolean).join(" · "),
          }),
        ],
      ),
  );
}
