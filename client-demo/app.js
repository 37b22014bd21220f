// @ts-check
// Entry point of the demo page: sign-in, the session bar, the app state
// panel, the socket event log, and the wiring of the other modules.
import { renderActivities, setUpActivityForm } from "./activity-panel.js";
import { fetchDemoConfig, requestDevToken } from "./api.js";
import { AttentionTracker } from "./attention.js";
import { ChatClient } from "./chat-client.js";
import { ChatView } from "./chat-view.js";
import { byTestId, formatTime, h, show } from "./dom.js";
import {
  loginToOneSignal,
  logoutOfOneSignal,
  requestPushPermission,
} from "./onesignal.js";
import { startPushPanel } from "./push-panel.js";

/** @typedef {import("./api.js").DemoConfig} DemoConfig */
/** @typedef {import("./attention.js").AttentionMode} AttentionMode */
/** @typedef {import("./chat-client.js").WireEvent} WireEvent */

/** Same rule as userIdSchema in the protocol. */
const USER_ID_PATTERN = /^[A-Za-z0-9_.@:+|-]{1,128}$/;
/** Entries shown in the socket event log. */
const WIRE_LOG_LIMIT = 60;

const signInView = byTestId("sign-in-view", HTMLElement);
const signInForm = byTestId("sign-in-form", HTMLFormElement);
const userInput = byTestId("sign-in-user", HTMLInputElement);
const nameInput = byTestId("sign-in-name", HTMLInputElement);
const signInButton = byTestId("sign-in-submit", HTMLButtonElement);
const signInError = byTestId("sign-in-error", HTMLElement);

/** @param {string | null} message */
function showSignInError(message) {
  signInError.textContent = message ?? "";
  show(signInError, message !== null);
}

async function main() {
  const params = new URLSearchParams(window.location.search);
  userInput.value = params.get("user") ?? "";
  nameInput.value = params.get("name") ?? "";

  /** @type {DemoConfig} */
  let config;
  try {
    config = await fetchDemoConfig();
  } catch (error) {
    showSignInError(
      `Could not load /demo-config.json: ${error instanceof Error ? error.message : String(error)}`,
    );
    signInButton.disabled = true;
    return;
  }
  if (!config.devAuth) {
    showSignInError(
      "This server does not sign development tokens (DEV_AUTH is off, as in production), so the demo cannot sign in.",
    );
    signInButton.disabled = true;
    return;
  }

  signInForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const userId = userInput.value.trim();
    const name = nameInput.value.trim();
    if (!USER_ID_PATTERN.test(userId)) {
      showSignInError(
        "Enter a user id of letters, digits and _ . @ : + | - (at most 128 characters).",
      );
      return;
    }
    showSignInError(null);
    signInButton.disabled = true;
    try {
      const token = await requestDevToken(userId, name || undefined);
      startSession(config, token, userId, name || userId);
    } catch (error) {
      showSignInError(
        `Sign-in failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      signInButton.disabled = false;
    }
  });
}

/**
 * Connects as the user and brings up every panel.
 * @param {DemoConfig} config
 * @param {string} token
 * @param {string} userId
 * @param {string} name
 */
function startSession(config, token, userId, name) {
  show(signInView, false);
  show(byTestId("workspace", HTMLElement), true);
  show(byTestId("session", HTMLElement), true);
  byTestId("current-user", HTMLElement).textContent = `${name} (${userId})`;
  document.title = `${name} · Chat server demo`;

  /** @type {ChatClient | null} */
  let client = null;
  const attention = new AttentionTracker((state) => {
    client?.setAppState(state);
    renderAttention();
  });
  client = new ChatClient({ token, userId, name, appState: attention.state });
  const chatClient = client;

  const appState = byTestId("app-state", HTMLElement);
  const appStateSource = byTestId("app-state-source", HTMLElement);
  const modeSelect = byTestId("attention-mode", HTMLSelectElement);
  const awayNote = byTestId("away-note", HTMLElement);
  const renderAttention = () => {
    appState.textContent = attention.state;
    appState.dataset.state = attention.state;
    appStateSource.textContent = `(${attention.describe()})`;
    document.body.dataset.appState = attention.state;
    awayNote.textContent =
      attention.state === "foreground"
        ? ""
        : `This window reports "${attention.state}": messages arriving here count as unseen, and the server pushes them.`;
    show(awayNote, attention.state !== "foreground");
  };
  modeSelect.addEventListener("change", () => {
    attention.setMode(/** @type {AttentionMode} */ (modeSelect.value));
    renderAttention();
  });
  attention.start();
  renderAttention();

  new ChatView(chatClient);
  bindConnectionControls(chatClient);
  bindWireLog(chatClient);

  const activityList = byTestId("activity-list", HTMLElement);
  renderActivities(activityList, chatClient.activities);
  chatClient.on("activity", () =>
    renderActivities(activityList, chatClient.activities),
  );
  setUpActivityForm({
    userId,
    name,
    suggestRecipient: () => {
      const openId = chatClient.openConversationId;
      const state = openId ? chatClient.conversations.get(openId) : undefined;
      return state?.view.memberIds.find((id) => id !== userId) ?? null;
    },
  });

  const stopPushPanel = startPushPanel({
    userId,
    pushMode: config.pushMode,
    pushList: byTestId("push-list", HTMLElement),
    decisionList: byTestId("decision-list", HTMLElement),
    status: byTestId("push-status", HTMLElement),
  });

  if (config.oneSignalAppId) {
    loginToOneSignal(config.oneSignalAppId, userId);
    show(byTestId("web-push", HTMLElement), true);
    byTestId("enable-web-push", HTMLButtonElement).addEventListener(
      "click",
      requestPushPermission,
    );
  }

  byTestId("sign-out", HTMLButtonElement).addEventListener(
    "click",
    async () => {
      stopPushPanel();
      attention.stop();
      chatClient.close();
      await logoutOfOneSignal();
      window.location.reload();
    },
  );

  chatClient.connect();
}

/** @param {ChatClient} client */
function bindConnectionControls(client) {
  const status = byTestId("connection-status", HTMLElement);
  const toggle = byTestId("connection-toggle", HTMLButtonElement);
  const render = () => {
    const { state, detail } = client.status;
    status.textContent = detail ? `${state}: ${detail}` : state;
    status.dataset.state = state;
    toggle.textContent = state === "offline" ? "Reconnect" : "Go offline";
  };
  client.on("status", render);
  toggle.addEventListener("click", () => {
    if (client.status.state === "offline") {
      client.connect();
    } else {
      client.goOffline();
    }
  });
  render();
}

/** @param {ChatClient} client */
function bindWireLog(client) {
  const log = byTestId("wire-log", HTMLElement);
  client.on("wire", (entry) => {
    log.prepend(
      h("li", { className: entry.direction }, [
        h("time", { text: formatTime(entry.at) }),
        h("span", {
          className: "arrow",
          text: entry.direction === "in" ? "←" : "→",
        }),
        h("code", { text: entry.event }),
        h("span", { className: "payload", text: entry.summary }),
      ]),
    );
    while (log.children.length > WIRE_LOG_LIMIT) log.lastElementChild?.remove();
  });
}

void main();
