// @ts-check
// Social activity: a form that reports an activity to POST /api/activities,
// as an app's backend would, and the list of `activity:new` events this
// user received.
import { postActivity } from "./api.js";
import { byTestId, formatTime, h, renderKeyed } from "./dom.js";

/** @typedef {import("../server/src/protocol/events.js").ActivityView} ActivityView */
/** @typedef {import("../server/src/protocol/schemas.js").ActivityAction} ActivityAction */
/** @typedef {import("./api.js").ActivityReport} ActivityReport */
/** @typedef {import("./api.js").ActivityResult} ActivityResult */
/** @typedef {NonNullable<ActivityReport["object"]>["type"]} ObjectType */

/** @type {readonly ActivityAction[]} */
const ACTIONS = [
  "like",
  "mention",
  "tag",
  "invite",
  "comment",
  "follow",
  "share",
];
/** @type {readonly ObjectType[]} */
const OBJECT_TYPES = ["post", "comment", "photo", "event", "album"];

/**
 * Wires the activity form of the page for the signed-in user.
 * @param {object} options
 * @param {string} options.userId the actor of every report
 * @param {string} options.name the actor's display name
 * @param {() => string | null} options.suggestRecipient another member of the open conversation
 */
export function setUpActivityForm({ userId, name, suggestRecipient }) {
  const form = byTestId("activity-form", HTMLFormElement);
  const keyInput = byTestId("activity-key", HTMLInputElement);
  const actionSelect = byTestId("activity-action", HTMLSelectElement);
  const recipientInput = byTestId("activity-recipient", HTMLInputElement);
  const objectTypeSelect = byTestId("activity-object-type", HTMLSelectElement);
  const objectIdInput = byTestId("activity-object-id", HTMLInputElement);
  const titleInput = byTestId("activity-title", HTMLInputElement);
  const textInput = byTestId("activity-text", HTMLInputElement);
  const result = byTestId("activity-result", HTMLElement);

  if (actionSelect.options.length === 0) {
    for (const action of ACTIONS) {
      actionSelect.append(
        h("option", { attrs: { value: action }, text: action }),
      );
    }
    for (const type of OBJECT_TYPES) {
      objectTypeSelect.append(
        h("option", { attrs: { value: type }, text: type }),
      );
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = /** @type {ActivityAction} */ (actionSelect.value);
    const recipientId = recipientInput.value.trim() || suggestRecipient() || "";
    recipientInput.value = recipientId;
    const key = keyInput.value.trim();
    if (!key) {
      showResult(result, "Paste the server API key first.", true);
      return;
    }
    if (!recipientId) {
      showResult(result, "Enter the recipient's user id.", true);
      return;
    }
    /** @type {ActivityReport} */
    const report = {
      action,
      actor_id: userId,
      actor_name: name,
      recipient_id: recipientId,
    };
    if (action !== "follow") {
      const title = titleInput.value.trim();
      report.object = {
        type: /** @type {ObjectType} */ (objectTypeSelect.value),
        id: objectIdInput.value.trim() || "post_1",
        ...(title ? { title } : {}),
      };
    }
    const text = textInput.value.trim();
    if (action === "comment" && text) report.comment_text = text;

    showResult(result, "Sending…", false);
    try {
      showResult(
        result,
        describeResult(await postActivity(key, report)),
        false,
      );
    } catch (error) {
      showResult(
        result,
        `Rejected: ${error instanceof Error ? error.message : String(error)}`,
        true,
      );
    }
  });
}

/**
 * @param {HTMLElement} element
 * @param {string} text
 * @param {boolean} isError
 */
function showResult(element, text, isError) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

/** @param {ActivityResult} result */
function describeResult(result) {
  switch (result.status) {
    case "accepted":
      return {
        live: "Accepted: shown live on a device in the foreground.",
        push_scheduled:
          "Accepted: no device in the foreground, so a push is scheduled.",
        disabled: "Accepted: the recipient turned this kind of activity off.",
      }[result.delivery];
    case "duplicate":
      return "Duplicate: this activity id was reported before.";
    case "ignored":
      return "Ignored: users get nothing for acting on their own content.";
  }
}

/**
 * Renders the activities received, newest first.
 * @param {HTMLElement} list
 * @param {ActivityView[]} activities
 */
export function renderActivities(list, activities) {
  if (activities.length === 0) {
    list.replaceChildren(
      h("li", { className: "empty", text: "No activity yet." }),
    );
    return;
  }
  renderKeyed(
    list,
    activities,
    (activity) => activity.id,
    (activity) =>
      h("li", { className: "activity", testId: "activity-item" }, [
        h("div", { className: "push-top" }, [
          h("strong", { testId: "activity-message", text: activity.message }),
          h("time", { text: formatTime(activity.createdAt) }),
        ]),
        activity.text
          ? h("div", { className: "quote", text: activity.text })
          : null,
        h("div", {
          className: "meta",
          text: [
            activity.action,
            activity.object
              ? `${activity.object.type} ${activity.object.id}`
              : null,
          ]
            .filter(Boolean)
            .join(" · "),
        }),
      ]),
  );
}
