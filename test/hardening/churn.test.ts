import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { requestOk } from "../support/client.js";
import {
  startServer,
  waitUntil,
  type ClientSocket,
} from "../support/server.js";

/** Connect, open, send, disconnect cycles per phase; two phases compare heap use. */
const CYCLES_PER_PHASE = 400;
const USERS = 20;

function collectGarbage() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc)
    throw new Error("run vitest with --expose-gc (vitest.config.ts sets it)");
  gc();
  gc();
}

describe("churn", () => {
  it(
    "returns presence, rooms, timers and limits to empty",
    { timeout: 60_000 },
    async () => {
      const server = await startServer({
        PUSH_DEBOUNCE_MS: "50",
        PUSH_MAX_WAIT_MS: "200",
        TYPING_TTL_MS: "100",
        PUSH_MAX_PER_USER_PER_MINUTE: "100000",
        RATE_SEND_PER_USER: "100000",
        RATE_SEND_PER_SOCKET: "100000",
        RATE_EVENTS_PER_SOCKET: "100000",
      });
      const owner = await server.connect("owner");
      const tokens = await Promise.all(
        Array.from({ length: USERS }, (_, index) =>
          server.token(`churn${index}`),
        ),
      );
      const conversations: string[] = [];
      for (let index = 0; index < USERS; index++) {
        const { conversation } = await requestOk(owner, "conversation:create", {
          memberIds: [`churn${index}`],
        });
        conversations.push(conversation.id);
      }

      const phase = async (offset: number) => {
        for (let cycle = 0; cycle < CYCLES_PER_PHASE; cycle++) {
          const index = (offset + cycle) % USERS;
          const socket: ClientSocket = connectClient(server.url, {
            auth: { token: tokens[index]! },
            transports: ["websocket"],
            reconnection: false,
          });
          await new Promise<void>((resolve, reject) => {
            socket.once("connect", () => resolve());
            socket.once("connect_error", reject);
          });
          const conversationId = conversations[index]!;
          await requestOk(socket, "conversation:open", { conversationId });
          await requestOk(socket, "typing", { conversationId, isTyping: true });
          await requestOk(socket, "message:send", {
            conversationId,
            clientMessageId: `c${offset}-${cycle}`,
            text: "churn",
          });
          socket.disconnect();
        }
      };
      const settle = async () => {
        await waitUntil(() => server.app.io.sockets.sockets.size === 1, 10_000);
        await waitUntil(
          () => server.app.attention.pendingOperations === 0,
          10_000,
        );
        await waitUntil(
          async () => (await server.app.pushStores.queue.size()) === 0,
          10_000,
        );
      };

      await phase(0);
      await settle();
      collectGarbage();
      const heapAfterFirst = process.memoryUsage().heapUsed;
      await phase(CYCLES_PER_PHASE);
      await settle();
      collectGarbage();
      const heapAfterSecond = process.memoryUsage().heapUsed;

      for (let index = 0; index < USERS; index++) {
        expect(await server.app.attention.listDevices(`churn${index}`)).toEqual(
          [],
        );
      }
      expect(server.app.attention.localSocketIds().size).toBe(1);
      // Only the owner's own room and socket room are left.
      const rooms = [...server.app.io.of("/").adapter.rooms.keys()];
      expect(rooms.filter((room) => room.startsWith("user:churn"))).toEqual([]);
      expect(rooms).toHaveLength(2);
      // Per-user send counters expire with their 10 s window and per-socket
      // ones go at disconnect. What stays is the owner's: its socket's
      // counters, its conversation creations (60 s window) and the token
      // requests' address (60 s window).
      await waitUntil(() => server.app.limits.countEntries() <= 3, 15_000);
      // The second phase did the same work as the first; its heap must not keep what the first left.
      const growthMb = (heapAfterSecond - heapAfterFirst) / 1024 / 1024;
      expect(growthMb).toBeLessThan(8);
      owner.disconnect();
    },
  );
});
