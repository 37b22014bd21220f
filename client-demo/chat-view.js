// @ts-check
// The conversation list, the open conversation and the composer. Renders a
// ChatClient's state and forwards the user's actions to it.
import { byTestId, formatTime, h, renderKeyed, show } from "./dom.js";

/** @typedef {import("./chat-client.js").ChatClient} ChatClient */
/** @typedef {import("./chat-client.js").ConversationState} ConversationState */
/** @typedef {import("./chat-client.js").PendingMessage} PendingMessage */
/** @typedef {import("../server/src/protocol/events.js").ChatMessage} ChatMessage */

/** Same rule as userIdSchema in the protocol. */
const USER_ID_PATTERN = /^[A-Za-z0-9_.@:+|-]{1,128}$/;
/** Distance from the bottom, in pixels, within which new messages scroll into view. */
const STICK_TO_BOTTOM_PX = 80;

/**
 * @typedef {{ kind: "message", message: ChatMessage } | { kind: "pending", item: PendingMessage }} MessageRow
 */

export class ChatView {
  /** @param {ChatClient} client */
  constructor(client) {
    this.client = client;
    this.list = byTestId("conversation-list", HTMLUListElement);
    this.empty = byTestId("chat-empty", HTMLElement);
    this.body = byTestId("chat-body", HTMLElement);
    this.title = byTestId("chat-title", HTMLElement);
    this.members = byTestId("chat-members", HTMLElement);
    this.scroller = byTestId("message-scroller", HTMLElement);
    this.messages = byTestId("message-list", HTMLOListElement);
    this.loadOlderButton = byTestId("load-older", HTMLButtonElement);
    this.typing = byTestId("typing-indicator", HTMLElement);
    this.error = byTestId("chat-error", HTMLElement);
    this.composer = byTestId("composer", HTMLFormElement);
    this.input = byTestId("composer-input", HTMLTextAreaElement);
    this.newForm = byTestId("new-conversation-form", HTMLFormElement);
    this.newMembers = byTestId("new-conversation-members", HTMLInputElement);
    this.newTitle = byTestId("new-conversation-title", HTMLInputElement);
    this.newError = byTestId("new-conversation-error", HTMLElement);

    client.on("conversations", () => this.renderList());
    client.on("conversation", (conversationId) => {
      if (conversationId === client.openConversationId) this.renderChat(false);
    });
    client.on("status", () => {
      if (client.openConversationId) this.renderChat(false);
    });
    this.bindActions();
    this.renderList();
    this.renderChat(true);
  }

  bindActions() {
    const client = this.client;

    this.newForm.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.createConversation();
    });

    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendDraft();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendDraft();
      }
    });
    this.input.addEventListener("input", () => {
      const openId = client.openConversationId;
      if (openId && this.input.value.trim()) client.noteTyping(openId);
    });

    byTestId("back-to-list", HTMLButtonElement).addEventListener("click", () =>
      this.open(null),
    );
    this.loadOlderButton.addEventListener("click", () => {
      const openId = client.openConversationId;
      if (!openId) return;
      const previousHeight = this.scroller.scrollHeight;
      client.loadOlder(openId).then(
        // Keep the message that was at the top where it was.
        () => {
          this.scroller.scrollTop +=
            this.scroller.scrollHeight - previousHeight;
        },
        (error) => this.showError(error),
      );
    });
  }

  /** @param {string | null} conversationId */
  open(conversationId) {
    this.showError(null);
    document.body.classList.toggle(
      "conversation-open",
      conversationId !== null,
    );
    this.client
      .openConversation(conversationId)
      .catch((error) => this.showError(error));
    this.renderChat(true);
    if (conversationId && window.matchMedia("(min-width: 720px)").matches) {
      this.input.focus();
    }
  }

  async createConversation() {
    const me = this.client.userId;
    const memberIds = [
      ...new Set(
        this.newMembers.value
          .split(/[\s,]+/)
          .map((id) => id.trim())
          .filter((id) => id && id !== me),
      ),
    ];
    const invalid = memberIds.find((id) => !USER_ID_PATTERN.test(id));
    if (memberIds.length === 0 || invalid) {
      this.newError.textContent = invalid
        ? `"${invalid}" is not a valid user id: use letters, digits and _ . @ : + | -`
        : "Enter at least one other user id.";
      show(this.newError, true);
      return;
    }
    show(this.newError, false);
    const title = this.newTitle.value.trim();
    try {
      const view = await this.client.createConversation(
        memberIds,
        memberIds.length > 1 && title ? title : undefined,
      );
      this.newMembers.value = "";
      this.newTitle.value = "";
      this.open(view.id);
    } catch (error) {
      this.newError.textContent = `Could not start the chat: ${errorText(error)}`;
      show(this.newError, true);
    }
  }

  sendDraft() {
    const openId = this.client.openConversationId;
    const text = this.input.value;
    if (!openId || !text.trim()) return;
    this.client.send(openId, text);
    this.input.value = "";
    this.scrollToBottom();
  }

  /** @param {unknown} error */
  showError(error) {
    this.error.textContent = error ? errorText(error) : "";
    show(this.error, Boolean(error));
  }

  /**
   * Title of a conversation: its own title, or the other members' names.
   * @param {ConversationState} state
   */
  titleOf(state) {
    if (state.view.title) return state.view.title;
    const others = state.view.memberIds.filter(
      (id) => id !== this.client.userId,
    );
    return (
      others.map((id) => this.client.displayName(id)).join(", ") || "Just you"
    );
  }

  renderList() {
    const states = this.client.sortedConversations();
    if (states.length === 0) {
      this.list.replaceChildren(
        h("li", { className: "empty", text: "No conversations yet." }),
      );
      return;
    }
    renderKeyed(
      this.list,
      states,
      (state) => state.view.id,
      (state) => this.createListItem(state),
      (element, state) => this.fillListItem(element, state),
    );
  }

  /** @param {ConversationState} state */
  createListItem(state) {
    const item = h("li", { testId: "conversation-item" }, [
      h(
        "button",
        {
          attrs: { type: "button" },
          on: { click: () => this.open(state.view.id) },
        },
        [
          h("span", { className: "dot", testId: "presence-dot" }),
          h("span", { className: "summary" }, [
            h("span", { className: "title", testId: "conversation-title" }),
            h("span", { className: "preview", testId: "conversation-preview" }),
          ]),
          h("span", { className: "unread", testId: "unread-count" }),
        ],
      ),
    ]);
    this.fillListItem(item, state);
    return item;
  }

  /**
   * @param {HTMLElement} item
   * @param {ConversationState} state
   */
  fillListItem(item, state) {
    const { view } = state;
    const online = view.onlineMemberIds.length > 0;
    item.dataset.conversationId = view.id;
    item.dataset.online = String(online);
    item.classList.toggle("active", view.id === this.client.openConversationId);
    const dot = byTestId("presence-dot", HTMLElement, item);
    dot.classList.toggle("online", online);
    dot.title = online
      ? `Online: ${view.onlineMemberIds.map((id) => this.client.displayName(id)).join(", ")}`
      : "Nobody else online";
    byTestId("conversation-title", HTMLElement, item).textContent =
      this.titleOf(state);

    const typers = [...state.typing.keys()];
    const last = view.lastMessage;
    const preview = byTestId("conversation-preview", HTMLElement, item);
    preview.classList.toggle("is-typing", typers.length > 0);
    if (typers.length > 0) {
      preview.textContent = "typing…";
    } else if (last) {
      const sender =
        last.senderId === this.client.userId ? "You" : last.senderName;
      preview.textContent = `${sender}: ${last.text}`;
    } else {
      preview.textContent =
        view.kind === "group" ? "Group, no messages" : "No messages";
    }
    const unread = byTestId("unread-count", HTMLElement, item);
    unread.textContent = String(view.unreadCount);
    unread.hidden = view.unreadCount === 0;
  }

  /** @param {boolean} forceScroll */
  renderChat(forceScroll) {
    const openId = this.client.openConversationId;
    const state = openId ? this.client.conversations.get(openId) : undefined;
    show(this.empty, !state);
    show(this.body, Boolean(state));
    if (!state) return;

    const nearBottom =
      this.scroller.scrollHeight -
        this.scroller.scrollTop -
        this.scroller.clientHeight <
      STICK_TO_BOTTOM_PX;

    this.title.textContent = this.titleOf(state);
    this.renderMembers(state);
    show(this.loadOlderButton, state.loaded && state.hasOlder);

    /** @type {MessageRow[]} */
    const rows = [
      ...state.messages.map((message) => ({
        kind: /** @type {const} */ ("message"),
        message,
      })),
      ...this.client.pendingFor(state.view.id).map((item) => ({
        kind: /** @type {const} */ ("pending"),
        item,
      })),
    ];
    renderKeyed(
      this.messages,
      rows,
      (row) =>
        row.kind === "message"
          ? `m:${row.message.id}`
          : `p:${row.item.clientMessageId}`,
      (row) => this.createMessageItem(row),
      (element, row) => this.fillMessageStatus(element, row),
    );

    const typers = [...state.typing.keys()].map((id) =>
      this.client.displayName(id),
    );
    this.typing.textContent =
      typers.length === 0
        ? ""
        : `${typers.join(" and ")} ${typers.length === 1 ? "is" : "are"} typing…`;

    if (forceScroll || nearBottom) this.scrollToBottom();
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** @param {ConversationState} state */
  renderMembers(state) {
    const online = new Set(state.view.onlineMemberIds);
    this.members.replaceChildren(
      ...state.view.memberIds
        .filter((id) => id !== this.client.userId)
        .map((id) =>
          h(
            "span",
            {
              className: "member",
              testId: "chat-member",
              data: { userId: id, online: String(online.has(id)) },
            },
            [
              h("span", { className: `dot${online.has(id) ? " online" : ""}` }),
              `${this.client.displayName(id)} ${online.has(id) ? "online" : "offline"}`,
            ],
          ),
        ),
    );
  }

  /** @param {MessageRow} row */
  createMessageItem(row) {
    const message =
      row.kind === "message"
        ? row.message
        : {
            senderId: this.client.userId,
            senderName: this.client.name,
            text: row.item.text,
            createdAt: row.item.createdAt,
          };
    const own = message.senderId === this.client.userId;
    const item = h(
      "li",
      {
        className: `message${own ? " own" : ""}`,
        testId: "message",
        data: row.kind === "message" ? { seq: String(row.message.seq) } : {},
      },
      [
        h("div", { className: "bubble" }, [
          own
            ? null
            : h("div", {
                className: "sender",
                testId: "message-sender",
                text: message.senderName,
              }),
          // User text goes in as text, never as markup.
          h("div", {
            className: "text",
            testId: "message-text",
            text: message.text,
          }),
          h("div", { className: "meta" }, [
            h("time", { text: formatTime(message.createdAt) }),
            h("span", { className: "status", testId: "message-status" }),
          ]),
        ]),
      ],
    );
    this.fillMessageStatus(item, row);
    return item;
  }

  /**
   * @param {HTMLElement} item
   * @param {MessageRow} row
   */
  fillMessageStatus(item, row) {
    const status = byTestId("message-status", HTMLElement, item);
    item.dataset.pending = String(row.kind === "pending");
    if (row.kind === "message") {
      status.textContent =
        row.message.senderId === this.client.userId
          ? this.deliveryText(row.message)
          : "";
      return;
    }
    const pending = row.item;
    item.dataset.sendStatus = pending.status;
    const connected = this.client.status.state === "connected";
    status.textContent =
      pending.status === "sending"
        ? "Sending…"
        : pending.status === "failed"
          ? `Not sent: ${pending.error ?? "unknown error"}`
          : !connected
            ? "Waiting for the connection"
            : (pending.error ?? "Queued");
    const existing = item.querySelector("button.retry");
    if (pending.status === "failed" && !existing) {
      status.after(
        h("button", {
          className: "retry",
          testId: "retry-send",
          attrs: { type: "button" },
          text: "Retry",
          on: { click: () => this.client.retry(pending.clientMessageId) },
        }),
      );
    } else if (pending.status !== "failed") {
      existing?.remove();
    }
  }

  /**
   * Returns "Sent", or who has read up to this message according to the
   * receipts received since sign-in. Names appear on the newest own message
   * each reader has read, and older ones show "Read".
   * @param {ChatMessage} message
   */
  deliveryText(message) {
    const state = this.client.conversations.get(message.conversationId);
    if (!state) return "Sent";
    const readerCount = (/** @type {number} */ seq) =>
      [...state.readBy.values()].filter((readSeq) => readSeq >= seq).length;
    const readers = [...state.readBy]
      .filter(([, seq]) => seq >= message.seq)
      .map(([userId]) => this.client.displayName(userId));
    if (readers.length === 0) return "Sent";
    // Readers of a newer message also read this one, so an equal count
    // means the newer message already names them.
    const namedLater = state.messages.some(
      (other) =>
        other.senderId === this.client.userId &&
        other.seq > message.seq &&
        readerCount(other.seq) === readers.length,
    );
    return namedLater ? "Read" : `Read by ${readers.join(", ")}`;
  }
}

/** @param {unknown} error */
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
