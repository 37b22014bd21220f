import { describe, expect, it } from "vitest";
import {
  collect,
  emitRaw,
  nextEvent,
  request,
  requestOk,
} from "../support/client.js";
import { startServer, waitUntil } from "../support/server.js";

describe("presence", () => {
  it("keeps a user online while any tab is open and announces offline once", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    const tab1 = await server.connect("ben");
    await requestOk(anna, "conversation:create", { memberIds: ["ben"] });
    const presence = collect(anna, "presence");

    const tab2 = await server.connect("ben");
    tab1.disconnect();
    await waitUntil(
      async () => (await server.app.attention.listDevices("ben")).length === 1,
    );
    const online = await server.api("GET", "/api/users/ben/presence");
    expect(online.body.online).toBe(true);
    expect(online.body.devices).toHaveLength(1);
    expect(online.body.devices[0].socketId).toBe(tab2.id);

    const offline = nextEvent(anna, "presence", (p) => !p.online);
    tab2.disconnect();
    expect(await offline).toEqual({ userId: "ben", online: false });
    expect(
      presence.filter((p) => p.userId === "ben" && !p.online),
    ).toHaveLength(1);
    expect(
      (await server.api("GET", "/api/users/ben/presence")).body.online,
    ).toBe(false);
  });

  it("announces online to contacts only", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    const eve = await server.connect("eve");
    await requestOk(anna, "conversation:create", { memberIds: ["ben"] });
    const evePresence = collect(eve, "presence");
    const cameOnline = nextEvent(
      anna,
      "presence",
      (p) => p.userId === "ben" && p.online,
    );
    await server.connect("ben");
    await cameOnline;
    // eve shares no conversation with ben; a later event to eve proves nothing was queued before it.
    const eveConversation = nextEvent(eve, "conversation:new");
    await requestOk(anna, "conversation:create", { memberIds: ["eve"] });
    await eveConversation;
    expect(evePresence).toEqual([]);
  });
});

describe("attention", () => {
  it("tells viewing from background, idle and another conversation", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    const ben = await server.connect("ben");
    const { conversation: direct } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["ben"] },
    );
    const { conversation: group } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["ben", "cleo"] },
    );
    const viewing = () => server.app.attention.isUserViewing("ben", direct.id);

    expect(await viewing()).toBe(false);
    await requestOk(ben, "conversation:open", { conversationId: direct.id });
    expect(await viewing()).toBe(true);

    await requestOk(ben, "app:state", { state: "background" });
    expect(await viewing()).toBe(false);
    await requestOk(ben, "app:state", { state: "idle" });
    expect(await viewing()).toBe(false);
    await requestOk(ben, "app:state", { state: "foreground" });
    expect(await viewing()).toBe(true);

    await requestOk(ben, "conversation:open", { conversationId: group.id });
    expect(await viewing()).toBe(false);
    expect(await server.app.attention.isUserViewing("ben", group.id)).toBe(
      true,
    );

    await requestOk(ben, "conversation:close", { conversationId: direct.id });
    expect(await server.app.attention.isUserViewing("ben", group.id)).toBe(
      true,
    );
    await requestOk(ben, "conversation:close", { conversationId: group.id });
    expect(await server.app.attention.isUserViewing("ben", group.id)).toBe(
      false,
    );

    await requestOk(ben, "conversation:open", { conversationId: direct.id });
    ben.disconnect();
    await waitUntil(async () => !(await viewing()));
  });

  it("counts any device of the user as viewing", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    const phone = await server.connect("ben", { appState: "background" });
    const laptop = await server.connect("ben");
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(phone, "conversation:open", {
      conversationId: conversation.id,
    });
    expect(
      await server.app.attention.isUserViewing("ben", conversation.id),
    ).toBe(false);
    await requestOk(laptop, "conversation:open", {
      conversationId: conversation.id,
    });
    expect(
      await server.app.attention.isUserViewing("ben", conversation.id),
    ).toBe(true);

    const devices = (await server.api("GET", "/api/users/ben/presence")).body
      .devices;
    const states = devices.map((d: { appState: string }) => d.appState).sort();
    expect(states).toEqual(["background", "foreground"]);
  });

  it("rejects an invalid app state in the handshake", async () => {
    const server = await startServer();
    await expect(
      server.connect("ben", { appState: "asleep" }),
    ).rejects.toMatchObject({
      data: { code: "invalid_payload" },
    });
  });

  it("leaves no state when a socket disconnects during its connect", async () => {
    const server = await startServer();
    const { io: connectClient } = await import("socket.io-client");
    const token = await server.token("flaky");
    for (let i = 0; i < 20; i++) {
      const socket = connectClient(server.url, {
        auth: { token },
        transports: ["websocket"],
        reconnection: false,
      });
      socket.on("connect", () => socket.disconnect());
      await new Promise<void>((resolve) =>
        socket.on("disconnect", () => resolve()),
      );
    }
    // The client reports its own disconnect before the server has seen it.
    await waitUntil(() => server.app.io.sockets.sockets.size === 0);
    await waitUntil(() => server.app.attention.pendingOperations === 0);
    expect(await server.app.attention.listDevices("flaky")).toEqual([]);
  });

  it("answers events from a socket that is already gone without crashing", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    emitRaw(anna, "app:state", { state: "idle" });
    anna.disconnect();
    const other = await server.connect("ben");
    expect((await request(other, "app:state", { state: "idle" })).ok).toBe(
      true,
    );
  });
});
