import { describe, expect, it } from "vitest";
import { collect, nextEvent, request, requestOk } from "../support/client.js";
import {
  REDIS_TEST_URL,
  randomDeployment,
  startNode,
  type NodeProcess,
} from "../support/cluster.js";
import {
  startOneSignalStandIn,
  type OneSignalStandIn,
} from "../support/onesignal-stand-in.js";
import {
  callApi,
  connectUser,
  onCleanup,
  waitUntil,
  type ClientSocket,
} from "../support/server.js";

interface Cluster {
  nodes: NodeProcess[];
  oneSignal: OneSignalStandIn;
  prefix: string;
}

/** Starts `count` nodes on one Redis prefix, all pushing to one OneSignal stand-in. */
async function startCluster(
  count: number,
  env: Record<string, string> = {},
): Promise<Cluster> {
  const oneSignal = await startOneSignalStandIn();
  onCleanup(() => oneSignal.close());
  const prefix = env.REDIS_PREFIX ?? randomDeployment();
  const nodeEnv = {
    REDIS_URL: REDIS_TEST_URL,
    REDIS_PREFIX: prefix,
    ONESIGNAL_APP_ID: oneSignal.appId,
    ONESIGNAL_REST_API_KEY: oneSignal.apiKey,
    ONESIGNAL_API_URL: oneSignal.url,
    PUSH_DEBOUNCE_MS: "200",
    PUSH_MAX_WAIT_MS: "2000",
    PUSH_ACK_TIMEOUT_MS: "500",
    NODE_HEARTBEAT_MS: "250",
    NODE_LEASE_MS: "1000",
    ...env,
  };
  const nodes = await Promise.all(
    Array.from({ length: count }, () => startNode(nodeEnv)),
  );
  return { nodes, oneSignal, prefix };
}

/** Waits until the user's presence, as any node reports it, matches `online`. */
async function waitForPresence(
  node: NodeProcess,
  userId: string,
  online: boolean,
  timeoutMs = 5000,
) {
  await waitUntil(
    async () =>
      (await callApi(node.url, "GET", `/api/users/${userId}/presence`)).body
        .online === online,
    timeoutMs,
  );
}

function pushesTo(cluster: Cluster, userId: string) {
  return cluster.oneSignal.notifications.filter((notification) =>
    (
      notification.body.include_aliases as { external_id: string[] }
    ).external_id.includes(userId),
  );
}

function ack(socket: ClientSocket) {
  socket.on("message:new", (_message, done) => done?.());
}

async function decisions(
  node: NodeProcess,
  userId: string,
): Promise<{ reason: string }[]> {
  return (
    await callApi(
      node.url,
      "GET",
      `/api/users/${userId}/push-decisions?limit=100`,
    )
  ).body.decisions;
}

describe("cluster on Redis", () => {
  it("delivers across nodes and skips the push for a viewer", async () => {
    const cluster = await startCluster(2);
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const anna = await connectUser(a.url, "anna", { name: "Anna" });
    const ben = await connectUser(b.url, "ben", { name: "Ben" });
    ack(ben);
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(ben, "conversation:open", {
      conversationId: conversation.id,
    });

    const live = nextEvent(ben, "message:new");
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "x1",
      text: "across nodes",
    });
    expect((await live).text).toBe("across nodes");

    await waitUntil(async () => (await decisions(a, "ben")).length === 1);
    expect((await decisions(b, "ben")).map((d) => d.reason)).toEqual([
      "suppressed_viewing",
    ]);
    expect(cluster.oneSignal.requests).toHaveLength(0);
  });

  it("sends exactly one push to an offline user with three nodes", async () => {
    const cluster = await startCluster(3);
    const senders = await Promise.all(
      cluster.nodes.map((node, index) =>
        connectUser(node.url, `sender${index}`, { name: `S${index}` }),
      ),
    );
    const { conversation } = await requestOk(
      senders[0]!,
      "conversation:create",
      {
        memberIds: ["sender1", "sender2", "offline"],
        title: "Three nodes",
      },
    );
    for (let i = 0; i < 9; i++) {
      await requestOk(senders[i % 3]!, "message:send", {
        conversationId: conversation.id,
        clientMessageId: `m${i}`,
        text: `m${i}`,
      });
    }
    await waitUntil(() => pushesTo(cluster, "offline").length >= 1);
    await waitUntil(
      async () => (await decisions(cluster.nodes[0]!, "offline")).length >= 1,
    );
    // Every node polls the shared queue; give them a few rounds to show a duplicate if there were one.
    const history = await requestOk(senders[0]!, "conversation:history", {
      conversationId: conversation.id,
    });
    expect(history.messages).toHaveLength(9);
    await waitUntil(async () =>
      (await decisions(cluster.nodes[1]!, "offline")).some(
        (d) => d.reason === "sent",
      ),
    );
    expect(pushesTo(cluster, "offline")).toHaveLength(1);
    expect(
      (pushesTo(cluster, "offline")[0]!.body.data as { count: number }).count,
    ).toBe(9);
  });

  it("keeps a user online while a tab on another node stays", async () => {
    const cluster = await startCluster(2);
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const watcher = await connectUser(a.url, "watcher");
    const tabA = await connectUser(a.url, "ben");
    const tabB = await connectUser(b.url, "ben");
    await requestOk(watcher, "conversation:create", { memberIds: ["ben"] });
    const presence = collect(watcher, "presence");

    tabA.disconnect();
    await waitUntil(
      async () =>
        (await callApi(b.url, "GET", "/api/users/ben/presence")).body.devices
          .length === 1,
    );
    expect(
      (await callApi(a.url, "GET", "/api/users/ben/presence")).body.online,
    ).toBe(true);

    const offline = nextEvent(
      watcher,
      "presence",
      (p) => p.userId === "ben" && !p.online,
    );
    tabB.disconnect();
    await offline;
    expect(presence.filter((p) => !p.online)).toHaveLength(1);
  });

  it("pushes to the users of a SIGKILLed node within the lease", async () => {
    const cluster = await startCluster(2);
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const anna = await connectUser(a.url, "anna", { name: "Anna" });
    const ben = await connectUser(b.url, "ben", { name: "Ben" });
    ack(ben);
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(ben, "conversation:open", {
      conversationId: conversation.id,
    });
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "v1",
      text: "seen live",
    });
    await waitUntil(async () => (await decisions(a, "ben")).length === 1);

    const offline = nextEvent(
      anna,
      "presence",
      (p) => p.userId === "ben" && !p.online,
      5000,
    );
    b.child.kill("SIGKILL");
    await b.exited;
    await offline;
    await waitForPresence(a, "ben", false);
    // The unread message that was on screen when the node died gets its push.
    await waitUntil(() => pushesTo(cluster, "ben").length === 1, 5000);
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "v2",
      text: "after the crash",
    });
    await waitUntil(() => pushesTo(cluster, "ben").length === 2, 5000);
  });

  it("fires a push once after the node that scheduled it dies", async () => {
    const cluster = await startCluster(2, {
      PUSH_DEBOUNCE_MS: "1500",
      PUSH_MAX_WAIT_MS: "3000",
    });
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const anna = await connectUser(a.url, "anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "k1",
      text: "before the crash",
    });
    a.child.kill("SIGKILL");
    await a.exited;
    await waitUntil(() => pushesTo(cluster, "ben").length === 1, 8000);
    const sent = await decisions(b, "ben");
    expect(sent.map((d) => d.reason)).toEqual(["sent"]);
    expect(pushesTo(cluster, "ben")).toHaveLength(1);
  });

  it("keeps two deployments on one Redis apart", async () => {
    const first = await startCluster(1);
    const second = await startCluster(1);
    const annaOne = await connectUser(first.nodes[0]!.url, "anna");
    const benTwo = await connectUser(second.nodes[0]!.url, "ben");
    const seen = collect(benTwo, "message:new");
    const { conversation } = await requestOk(annaOne, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(annaOne, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "d1",
      text: "deployment one",
    });
    // The direct conversation id is derived from the pair, so it is the same id in both deployments.
    const other = await request(benTwo, "conversation:history", {
      conversationId: conversation.id,
    });
    expect(other).toMatchObject({ ok: false, error: { code: "not_found" } });
    expect(seen).toEqual([]);
    expect(
      (await callApi(second.nodes[0]!.url, "GET", "/api/users/anna/presence"))
        .body.online,
    ).toBe(false);
  });
});

describe("node restart", () => {
  it("clears the devices of a node that restarts under the same NODE_ID", async () => {
    const cluster = await startCluster(1);
    const [a] = cluster.nodes as [NodeProcess];
    const stableEnv = {
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: cluster.prefix,
      NODE_ID: "stable-node",
      NODE_HEARTBEAT_MS: "250",
      NODE_LEASE_MS: "5000",
    };
    const first = await startNode(stableEnv);
    await connectUser(first.url, "ben");
    await waitForPresence(a, "ben", true);
    first.child.kill("SIGKILL");
    await first.exited;
    // Restarted at once, well within the old lease, so the lease never runs out.
    await startNode(stableEnv);
    await waitForPresence(a, "ben", false, 3000);
  });
});
