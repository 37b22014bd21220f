// @ts-check
// The chat state of one signed-in user: the Socket.IO connection, the
// conversations and their messages, sends waiting for an ack, read
// receipts, typing and presence. It does not touch the DOM: the page
// subscribes with `on` and renders.
import { io } from "/socket.io/socket.io.esm.min.js";

/** @typedef {import("../server/src/protocol/events.js").ChatMessage} ChatMessage */
/** @typedef {import("../server/src/protocol/events.js").ConversationView} ConversationView */
/** @typedef {import("../server/src/protocol/events.js").ActivityView} ActivityView */
/** @typedef {import("../server/src/protocol/events.js").ClientToServerEvents} ClientToServerEvents */
/** @typedef {import("../server/src/protocol/events.js").ServerToClientEvents} ServerToClientEvents */
/** @typedef {import("../server/src/protocol/schemas.js").AppState} AppState */
/** @typedef {import("../server/src/protocol/errors.js").ErrorBody} ErrorBody */
/** @typedef {import("socket.io-client").Socket<ServerToClientEvents, ClientToServerEvents>} ChatSocket */

/**
 * A conversation and the state this client keeps for it.
 * @typedef {object} ConversationState
 * @property {ConversationView} view the server's view, kept current by events
 * @property {ChatMessage[]} messages messages held, in ascending seq
 * @property {Set<string>} messageIds ids of `messages`, to drop duplicates
 * @property {boolean} loaded whether the newest page of history was fetched
 * @property {boolean} hasOlder whether older messages remain on the server
 * @property {Map<string, number>} readBy highest seq each other member read, from receipts
 * @property {Map<string, ReturnType<typeof setTimeout>>} typing members typing now, with the timer that ends it
 */

/**
 * A message the user sent that the server has not acked yet.
 * @typedef {object} PendingMessage
 * @property {string} clientMessageId the same on every resend, so the server stores it once
 * @property {string} conversationId
 * @property {string} text
 * @property {string} createdAt ISO time the user sent it
 * @property {"sending" | "waiting" | "failed"} status
 * @property {number} attempts sends on the current connection
 * @property {number} retryAt epoch ms before which it is not resent
 * @property {string | null} error why it is waiting or failed
 * @property {boolean} permanent whether the server rejected it for good, so only the user can resend it
 */

/**
 * Connection state shown by the page.
 * @typedef {{ state: "connecting" | "connected" | "reconnecting" | "offline"; detail: string | null }} ConnectionStatus
 */

/**
 * An entry of the socket event log.
 * @typedef {object} WireEvent
 * @property {"in" | "out"} direction
 * @property {string} event
 * @property {string} summary
 * @property {string} at ISO time
 */

/**
 * Change notifications for the page. `conversation` carries the id of the
 * conversation whose messages, typing state or receipts changed.
 * @typedef {object} ClientEvents
 * @property {void} conversations
 * @property {string} conversation
 * @property {ActivityView} activity
 * @property {ConnectionStatus} status
 * @property {WireEvent} wire
 */

/** Time to wait for the ack of a request before treating it as lost. */
const REQUEST_TIMEOUT_MS = 8000;
/** Messages fetched when a conversation is first opened or scrolled back. */
const HISTORY_PAGE = 50;
/** Largest page that `conversation:history` returns. */
const RESYNC_PAGE = 100;
/** Upper bound on history pages fetched in one catch-up (100 pages of 100 messages). */
const MAX_RESYNC_PAGES = 100;
/** Sends of one message on one connection before it is marked failed. */
const MAX_SEND_ATTEMPTS = 6;
/** Maximum wait between two resends after `unavailable` or a timeout. */
const MAX_RETRY_DELAY_MS = 15_000;
/** A `typing: true` is repeated this often while the user keeps typing. */
const TYPING_REFRESH_MS = 2000;
/** Typing counts as stopped this long after the last keystroke. */
const TYPING_IDLE_MS = 3000;
/** Entries kept in the socket event log and in the activity list. */
const LOG_LIMIT = 60;
const ACTIVITY_LIMIT = 30;

export class ChatClient {
  /**
   * @param {object} options
   * @param {string} options.token dev token for the handshake
   * @param {string} options.userId the token's user id
   * @param {string} options.name display name, shown on own messages until the server echoes them
   * @param {AppState} options.appState app state reported in the handshake
   */
  constructor({ token, userId, name, appState }) {
    this.userId = userId;
    this.name = name;
    /** @type {AppState} */
    this.appState = appState;
    /** @type {string | null} */
    this.openConversationId = null;
    /** @type {Map<string, ConversationState>} */
    this.conversations = new Map();
    /** @type {Map<string, PendingMessage>} in the order the user sent them */
    this.pending = new Map();
    /** @type {ActivityView[]} newest first */
    this.activities = [];
    /** @type {WireEvent[]} newest first */
    this.wireLog = [];
    /** Display names learned from messages and activities. */
    this.names = new Map([[userId, name]]);
    /** @type {ConnectionStatus} */
    this.status = { state: "connecting", detail: null };

    /** @type {{ [K in keyof ClientEvents]?: Set<(value: ClientEvents[K]) => void> }} */
    this.listeners = {};
    this.flushing = false;
    this.flushRequested = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {{ conversationId: string, sentAt: number } | null} */
    this.typingSent = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.typingStopTimer = undefined;
    /** Seq of a `message:read` in flight, per conversation, so it is not sent twice. */
    this.readInFlight = new Map();

    /** @type {ChatSocket} */
    this.socket = io({
      // A function, so every reconnect reports the app state of that moment.
      auth: (callback) => callback({ token, appState: this.appState }),
      autoConnect: false,
    });
    this.attachSocketListeners();
  }

  /**
   * Subscribes to a change notification; returns the unsubscribe function.
   * @template {keyof ClientEvents} K
   * @param {K} event
   * @param {(value: ClientEvents[K]) => void} listener
   */
  on(event, listener) {
    const set = /** @type {Set<(value: ClientEvents[K]) => void>} */ (
      this.listeners[event] ??= /** @type {any} */ (new Set())
    );
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * @template {keyof ClientEvents} K
   * @param {K} event
   * @param {ClientEvents[K]} value
   */
  emitChange(event, value) {
    for (const listener of this.listeners[event] ?? []) listener(value);
  }

  connect() {
    this.setStatus("connecting", null);
    this.socket.connect();
  }

  /** Drops the connection on purpose, to show what happens while offline. */
  goOffline() {
    this.stopTyping();
    this.socket.disconnect();
    this.setStatus("offline", "disconnected on purpose");
  }

  /** Disconnects for good and clears every timer. */
  close() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.typingStopTimer);
    for (const state of this.conversations.values()) {
      for (const timer of state.typing.values()) clearTimeout(timer);
    }
    this.socket.disconnect();
  }

  /**
   * @param {ConnectionStatus["state"]} state
   * @param {string | null} detail
   */
  setStatus(state, detail) {
    this.status = { state, detail };
    this.emitChange("status", this.status);
  }

  attachSocketListeners() {
    const socket = this.socket;

    socket.on("connect", () => {
      this.setStatus("connected", null);
      void this.afterConnect();
    });
    socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      this.setStatus("reconnecting", reason);
    });
    socket.on("connect_error", (error) => {
      const data = /** @type {{ data?: Partial<ErrorBody> }} */ (error).data;
      const detail = data?.message ?? error.message;
      // A handshake rejected by the server is not retried by Socket.IO.
      this.setStatus(socket.active ? "reconnecting" : "offline", detail);
    });

    socket.onAny((event, ...args) =>
      this.logWire("in", String(event), args[0]),
    );
    socket.onAnyOutgoing((event, ...args) =>
      this.logWire("out", String(event), args[0]),
    );

    socket.on("message:new", (message, ack) => {
      this.receiveMessage(message);
      // The message is in the UI now, and the ack reports it to the server as seen.
      ack?.();
    });
    socket.on("message:read", ({ conversationId, userId, seq }) => {
      const state = this.conversations.get(conversationId);
      if (!state) return;
      if (userId === this.userId) {
        state.view.readSeq = Math.max(state.view.readSeq, seq);
        this.updateUnread(state);
        this.emitChange("conversations", undefined);
      } else {
        state.readBy.set(userId, Math.max(state.readBy.get(userId) ?? 0, seq));
      }
      this.emitChange("conversation", conversationId);
    });
    socket.on("typing", ({ conversationId, userId, isTyping, ttlMs }) => {
      if (userId === this.userId) return;
      const state = this.conversations.get(conversationId);
      if (!state) return;
      clearTimeout(state.typing.get(userId));
      if (isTyping) {
        const timer = setTimeout(() => {
          state.typing.delete(userId);
          this.emitChange("conversation", conversationId);
        }, ttlMs);
        state.typing.set(userId, timer);
      } else {
        state.typing.delete(userId);
      }
      this.emitChange("conversation", conversationId);
    });
    socket.on("presence", ({ userId, online }) => {
      // onlineMemberIds leaves out this user, as the server's views do.
      if (userId === this.userId) return;
      for (const state of this.conversations.values()) {
        if (!state.view.memberIds.includes(userId)) continue;
        const others = state.view.onlineMemberIds.filter((id) => id !== userId);
        state.view.onlineMemberIds = online ? [...others, userId] : others;
      }
      this.emitChange("conversations", undefined);
      if (this.openConversationId) {
        this.emitChange("conversation", this.openConversationId);
      }
    });
    socket.on("conversation:new", (view) => {
      this.upsertView(view);
      this.emitChange("conversations", undefined);
    });
    socket.on("activity:new", (activity) => {
      this.names.set(activity.actorId, activity.actorName);
      this.activities = [activity, ...this.activities].slice(0, ACTIVITY_LIMIT);
      this.emitChange("activity", activity);
    });
  }

  /**
   * @param {"in" | "out"} direction
   * @param {string} event
   * @param {unknown} payload
   */
  logWire(direction, event, payload) {
    let summary = "";
    try {
      summary = JSON.stringify(payload) ?? "";
    } catch {
      summary = String(payload);
    }
    if (summary.length > 140) summary = `${summary.slice(0, 139)}…`;
    /** @type {WireEvent} */
    const entry = { direction, event, summary, at: new Date().toISOString() };
    this.wireLog = [entry, ...this.wireLog].slice(0, LOG_LIMIT);
    this.emitChange("wire", entry);
  }

  /**
   * Brings the state up to date after every (re)connect. It starts resending
   * what is still unacked, then fetches the conversation list, opens the open
   * conversation again and fetches the messages missed in every conversation
   * already loaded.
   */
  async afterConnect() {
    for (const item of this.pending.values()) {
      if (item.permanent) continue;
      item.status = "waiting";
      item.attempts = 0;
      item.retryAt = 0;
    }
    void this.flushPending();
    try {
      await this.refreshConversations();
      const openId = this.openConversationId;
      if (openId) await this.requestOk("conversation:open", openId);
      for (const [conversationId, state] of this.conversations) {
        if (state.loaded) {
          await this.catchUp(conversationId, highestSeq(state));
        } else if (conversationId === openId) {
          // Opened while offline: its history was never fetched.
          await this.loadLatest(conversationId);
        }
      }
      if (openId) this.markReadIfViewing(openId);
    } catch (error) {
      this.setStatus("connected", `resync failed: ${errorText(error)}`);
    }
  }

  async refreshConversations() {
    const ack = await this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck("conversation:list", {});
    if (!ack.ok) throw new Error(ack.error.message);
    for (const view of ack.conversations) this.upsertView(view);
    this.emitChange("conversations", undefined);
  }

  /**
   * Stores the server's view of a conversation, keeping the messages held.
   * @param {ConversationView} view
   * @returns {ConversationState}
   */
  upsertView(view) {
    const existing = this.conversations.get(view.id);
    if (existing) {
      // The list may have been read before a message that is already held
      // here, or before a read on another device, so keep the newer facts.
      const readSeq = Math.max(existing.view.readSeq, view.readSeq);
      existing.view = { ...view, readSeq };
      this.noteMessage(existing, existing.messages.at(-1) ?? null);
      this.updateUnread(existing);
      return existing;
    }
    /** @type {ConversationState} */
    const state = {
      view,
      messages: [],
      messageIds: new Set(),
      loaded: false,
      hasOlder: false,
      readBy: new Map(),
      typing: new Map(),
    };
    this.conversations.set(view.id, state);
    if (view.lastMessage) {
      this.names.set(view.lastMessage.senderId, view.lastMessage.senderName);
    }
    return state;
  }

  /** Conversations, the one with the newest message first. */
  sortedConversations() {
    const activity = (/** @type {ConversationState} */ state) =>
      state.view.lastMessage?.createdAt ?? state.view.createdAt;
    return [...this.conversations.values()].sort((a, b) =>
      activity(b).localeCompare(activity(a)),
    );
  }

  /** @param {string} userId */
  displayName(userId) {
    return this.names.get(userId) ?? userId;
  }

  /**
   * Creates a direct conversation (one other member) or a group.
   * @param {string[]} memberIds
   * @param {string | undefined} title
   * @returns {Promise<ConversationView>}
   */
  async createConversation(memberIds, title) {
    const ack = await this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck(
        "conversation:create",
        title ? { memberIds, title } : { memberIds },
      );
    if (!ack.ok) throw new Error(ack.error.message);
    this.upsertView(ack.conversation);
    this.emitChange("conversations", undefined);
    return ack.conversation;
  }

  /**
   * Puts a conversation on screen: sends conversation:close and
   * conversation:open, loads its history (or what was missed since it was
   * loaded) and marks it read.
   * @param {string | null} conversationId null closes the open one
   */
  async openConversation(conversationId) {
    const previous = this.openConversationId;
    if (previous === conversationId) return;
    this.stopTyping();
    this.openConversationId = conversationId;
    this.emitChange("conversations", undefined);
    if (conversationId) this.emitChange("conversation", conversationId);
    if (!this.socket.connected) return;

    if (previous) await this.requestOk("conversation:close", previous);
    if (!conversationId) return;
    await this.requestOk("conversation:open", conversationId);
    const state = this.conversations.get(conversationId);
    if (!state) return;
    if (state.loaded) {
      await this.catchUp(conversationId, highestSeq(state));
    } else {
      await this.loadLatest(conversationId);
    }
    this.markReadIfViewing(conversationId);
  }

  /**
   * Sends `conversation:open` or `conversation:close` and checks the ack.
   * @param {"conversation:open" | "conversation:close"} event
   * @param {string} conversationId
   */
  async requestOk(event, conversationId) {
    const ack = await this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck(event, { conversationId });
    if (!ack.ok) throw new Error(`${event}: ${ack.error.message}`);
  }

  /** @param {string} conversationId */
  async loadLatest(conversationId) {
    const state = this.conversations.get(conversationId);
    if (!state) return;
    const ack = await this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck("conversation:history", {
        conversationId,
        limit: HISTORY_PAGE,
      });
    if (!ack.ok) throw new Error(ack.error.message);
    state.loaded = true;
    state.hasOlder = ack.hasMore;
    this.addMessages(state, ack.messages);
    // Messages that arrived live before the page are newer than it, so
    // nothing is missing between the two.
    this.emitChange("conversation", conversationId);
    this.emitChange("conversations", undefined);
  }

  /** @param {string} conversationId */
  async loadOlder(conversationId) {
    const state = this.conversations.get(conversationId);
    const oldest = state?.messages[0];
    if (!state || !oldest) return;
    const ack = await this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck("conversation:history", {
        conversationId,
        beforeSeq: oldest.seq,
        limit: HISTORY_PAGE,
      });
    if (!ack.ok) throw new Error(ack.error.message);
    state.hasOlder = ack.hasMore;
    this.addMessages(state, ack.messages);
    this.emitChange("conversation", conversationId);
  }

  /**
   * Fetches every message after `afterSeq`, page by page, until a page
   * comes back with hasMore false. Messages already held are skipped by id.
   * @param {string} conversationId
   * @param {number} afterSeq
   */
  async catchUp(conversationId, afterSeq) {
    const state = this.conversations.get(conversationId);
    if (!state) return;
    let cursor = afterSeq;
    for (let page = 0; page < MAX_RESYNC_PAGES; page++) {
      const ack = await this.socket
        .timeout(REQUEST_TIMEOUT_MS)
        .emitWithAck("conversation:history", {
          conversationId,
          afterSeq: cursor,
          limit: RESYNC_PAGE,
        });
      if (!ack.ok) throw new Error(ack.error.message);
      this.addMessages(state, ack.messages);
      const last = ack.messages.at(-1);
      if (!ack.hasMore || !last) break;
      cursor = last.seq;
    }
    this.emitChange("conversation", conversationId);
    this.emitChange("conversations", undefined);
  }

  /** @param {ChatMessage} message */
  receiveMessage(message) {
    const state = this.conversations.get(message.conversationId);
    if (!state) {
      // A conversation this client has not listed yet: fetch the list.
      void this.refreshConversations().catch(() => {});
      return;
    }
    const before = highestSeq(state);
    const added = this.addMessages(state, [message]);
    if (added === 0) return;
    if (state.loaded && message.seq > before + 1) {
      // A gap: something was missed, so fetch it.
      void this.catchUp(message.conversationId, before).catch(() => {});
    }
    this.emitChange("conversation", message.conversationId);
    this.emitChange("conversations", undefined);
    this.markReadIfViewing(message.conversationId);
  }

  /**
   * Inserts messages in seq order, skipping ids already held, and updates
   * the conversation's last message, unread count and pending sends.
   * @param {ConversationState} state
   * @param {ChatMessage[]} messages
   * @returns {number} how many were new
   */
  addMessages(state, messages) {
    let added = 0;
    for (const message of messages) {
      this.names.set(message.senderId, message.senderName);
      if (state.messageIds.has(message.id)) continue;
      state.messageIds.add(message.id);
      added += 1;
      const index = state.messages.findLastIndex((m) => m.seq < message.seq);
      state.messages.splice(index + 1, 0, message);
      this.noteMessage(state, message);
      if (message.senderId === this.userId) {
        // The server stored it: a send whose ack was lost is done too.
        this.pending.delete(message.clientMessageId);
        state.view.readSeq = Math.max(state.view.readSeq, message.seq);
      }
    }
    this.updateUnread(state);
    return added;
  }

  /**
   * @param {ConversationState} state
   * @param {ChatMessage | null} message
   */
  noteMessage(state, message) {
    if (!message) return;
    state.view.lastSeq = Math.max(state.view.lastSeq, message.seq);
    if (!state.view.lastMessage || state.view.lastMessage.seq <= message.seq) {
      state.view.lastMessage = message;
    }
  }

  /** @param {ConversationState} state */
  updateUnread(state) {
    state.view.unreadCount = Math.max(
      0,
      state.view.lastSeq - state.view.readSeq,
    );
  }

  /**
   * Returns whether the user is viewing the conversation: it is on screen
   * and the app reports foreground. Only then are messages marked read.
   * @param {string} conversationId
   */
  isViewing(conversationId) {
    return (
      this.openConversationId === conversationId &&
      this.appState === "foreground"
    );
  }

  /** @param {string} conversationId */
  markReadIfViewing(conversationId) {
    if (!this.isViewing(conversationId) || !this.socket.connected) return;
    const state = this.conversations.get(conversationId);
    if (!state) return;
    const seq = Math.max(state.view.lastSeq, highestSeq(state));
    if (
      seq <= state.view.readSeq ||
      (this.readInFlight.get(conversationId) ?? 0) >= seq
    ) {
      return;
    }
    this.readInFlight.set(conversationId, seq);
    this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck("message:read", { conversationId, seq })
      .then(
        (ack) => {
          if (!ack.ok) return;
          state.view.readSeq = Math.max(state.view.readSeq, ack.readSeq);
          this.updateUnread(state);
          this.emitChange("conversations", undefined);
        },
        // The next message or state change sends the read again.
        () => {},
      )
      .finally(() => {
        if (this.readInFlight.get(conversationId) === seq) {
          this.readInFlight.delete(conversationId);
        }
      });
  }

  /**
   * Reports a new app state. Coming back to the foreground marks the open
   * conversation read.
   * @param {AppState} appState
   */
  setAppState(appState) {
    if (appState === this.appState) return;
    this.appState = appState;
    if (appState !== "foreground") this.stopTyping();
    // While disconnected, the handshake of the next connect reports the state.
    if (this.socket.connected) {
      this.socket
        .timeout(REQUEST_TIMEOUT_MS)
        .emitWithAck("app:state", { state: appState })
        .catch(() => {});
    }
    if (this.openConversationId)
      this.markReadIfViewing(this.openConversationId);
  }

  /**
   * Queues a message and sends it. It stays queued, and is resent with the
   * same clientMessageId, until the server acks it.
   * @param {string} conversationId
   * @param {string} text
   */
  send(conversationId, text) {
    this.stopTyping();
    /** @type {PendingMessage} */
    const item = {
      clientMessageId: newClientMessageId(),
      conversationId,
      text,
      createdAt: new Date().toISOString(),
      status: "waiting",
      attempts: 0,
      retryAt: 0,
      error: null,
      permanent: false,
    };
    this.pending.set(item.clientMessageId, item);
    this.emitChange("conversation", conversationId);
    void this.flushPending();
  }

  /**
   * Sends a failed message again.
   * @param {string} clientMessageId
   */
  retry(clientMessageId) {
    const item = this.pending.get(clientMessageId);
    if (!item) return;
    item.status = "waiting";
    item.attempts = 0;
    item.retryAt = 0;
    item.error = null;
    item.permanent = false;
    this.emitChange("conversation", item.conversationId);
    void this.flushPending();
  }

  /** @param {string} conversationId */
  pendingFor(conversationId) {
    return [...this.pending.values()].filter(
      (item) => item.conversationId === conversationId,
    );
  }

  /**
   * Sends queued messages one at a time, oldest first. A message that must
   * wait holds back the later ones of its conversation, so they arrive in
   * the order they were written.
   */
  async flushPending() {
    if (this.flushing) {
      this.flushRequested = true;
      return;
    }
    this.flushing = true;
    clearTimeout(this.retryTimer);
    try {
      // Each round sends everything queued when it started. Another round
      // runs only when a send was queued meanwhile.
      for (let round = 0; round < 100; round++) {
        this.flushRequested = false;
        /** @type {Set<string>} */
        const heldBack = new Set();
        for (const item of [...this.pending.values()]) {
          if (!this.socket.connected) return;
          if (!this.pending.has(item.clientMessageId)) continue;
          if (heldBack.has(item.conversationId)) continue;
          if (item.status === "failed" || item.retryAt > Date.now()) {
            heldBack.add(item.conversationId);
            continue;
          }
          const sent = await this.sendOne(item);
          if (!sent) heldBack.add(item.conversationId);
        }
        if (!this.flushRequested) break;
      }
    } finally {
      this.flushing = false;
      this.scheduleRetry();
    }
  }

  /** Arms a timer for the earliest message waiting to be resent. */
  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const waiting = [...this.pending.values()].filter(
      (item) => item.status === "waiting" && item.retryAt > 0,
    );
    if (waiting.length === 0 || !this.socket.connected) return;
    const next = Math.min(...waiting.map((item) => item.retryAt));
    this.retryTimer = setTimeout(
      () => void this.flushPending(),
      Math.max(0, next - Date.now()),
    );
  }

  /**
   * Sends one queued message and handles its ack.
   * @param {PendingMessage} item
   * @returns {Promise<boolean>} whether the server stored it
   */
  async sendOne(item) {
    item.status = "sending";
    item.attempts += 1;
    item.error = null;
    this.emitChange("conversation", item.conversationId);
    /** @type {Awaited<ReturnType<ChatClient["emitSend"]>> | null} */
    let ack = null;
    try {
      ack = await this.emitSend(item);
    } catch {
      ack = null;
    }
    if (!this.pending.has(item.clientMessageId)) return true;

    if (ack?.ok) {
      this.pending.delete(item.clientMessageId);
      const state = this.conversations.get(item.conversationId);
      if (state) {
        this.addMessages(state, [
          {
            id: ack.id,
            conversationId: item.conversationId,
            seq: ack.seq,
            senderId: this.userId,
            senderName: this.name,
            text: item.text,
            clientMessageId: item.clientMessageId,
            createdAt: ack.createdAt,
          },
        ]);
      }
      this.emitChange("conversation", item.conversationId);
      this.emitChange("conversations", undefined);
      return true;
    }

    const error = ack ? ack.error : null;
    const retryable =
      !error || error.code === "unavailable" || error.code === "rate_limited";
    if (!retryable || item.attempts >= MAX_SEND_ATTEMPTS) {
      item.status = "failed";
      item.permanent = !retryable;
      item.error = error ? error.message : "no ack from the server";
    } else {
      const backoff = Math.min(
        1000 * 2 ** (item.attempts - 1),
        MAX_RETRY_DELAY_MS,
      );
      const delay =
        error?.code === "rate_limited"
          ? (error.retryAfterMs ?? backoff)
          : backoff;
      item.status = "waiting";
      item.retryAt = Date.now() + delay;
      item.error = error
        ? `${error.message}; resending`
        : "no ack yet; resending";
    }
    this.emitChange("conversation", item.conversationId);
    return false;
  }

  /** @param {PendingMessage} item */
  emitSend(item) {
    return this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck("message:send", {
      conversationId: item.conversationId,
      clientMessageId: item.clientMessageId,
      text: item.text,
    });
  }

  /**
   * Called on every keystroke in the composer. Sends `typing: true` at most
   * every TYPING_REFRESH_MS and `typing: false` after TYPING_IDLE_MS of quiet.
   * @param {string} conversationId
   */
  noteTyping(conversationId) {
    if (!this.socket.connected) return;
    const now = Date.now();
    if (
      !this.typingSent ||
      this.typingSent.conversationId !== conversationId ||
      now - this.typingSent.sentAt >= TYPING_REFRESH_MS
    ) {
      if (
        this.typingSent &&
        this.typingSent.conversationId !== conversationId
      ) {
        this.stopTyping();
      }
      this.emitTyping(conversationId, true);
      this.typingSent = { conversationId, sentAt: now };
    }
    clearTimeout(this.typingStopTimer);
    this.typingStopTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingStopTimer);
    if (!this.typingSent) return;
    const { conversationId } = this.typingSent;
    this.typingSent = null;
    if (this.socket.connected) this.emitTyping(conversationId, false);
  }

  /**
   * @param {string} conversationId
   * @param {boolean} isTyping
   */
  emitTyping(conversationId, isTyping) {
    // Typing is best effort: an error ack is ignored.
    this.socket.emit("typing", { conversationId, isTyping }, () => {});
  }
}

/**
 * Highest seq among the messages held for a conversation, 0 when none.
 * @param {ConversationState} state
 */
export function highestSeq(state) {
  return state.messages.at(-1)?.seq ?? 0;
}

/**
 * Creates a clientMessageId: printable ASCII, unique per send. It uses
 * getRandomValues because crypto.randomUUID exists only on secure origins,
 * and the page may be opened over plain http from another machine.
 */
function newClientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `web-${Date.now().toString(36)}-${hex}`;
}

/** @param {unknown} error */
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
