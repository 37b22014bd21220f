import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { nextEvent, requestOk } from "../support/client.js";
import {
  freePort,
  randomDeployment,
  REDIS_TEST_URL,
} from "../support/cluster.js";
import { devToken, onCleanup, type ClientSocket } from "../support/server.js";

describe("npm run cluster", () => {
  it("serves two nodes behind the balancer with long-polling clients", async () => {
    const [port, first, second] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "scripts/cluster.ts",
        "--port",
        String(port),
        "--node-ports",
        `${first},${second}`,
        "--redis-url",
        REDIS_TEST_URL,
        "--redis-prefix",
        randomDeployment(),
      ],
      {
        env: { ...process.env, LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => resolve(code)),
    );
    onCleanup(async () => {
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.includes("cluster ready")) resolve();
      });
      void exited.then((code) =>
        reject(new Error(`cluster script exited with ${code}`)),
      );
    });

    const url = `http://127.0.0.1:${port}`;
    const connect = async (userId: string) => {
      // Default transports: long-polling first, then the upgrade, which needs stickiness.
      const socket: ClientSocket = connectClient(url, {
        auth: { token: await devToken(url, userId) },
        reconnection: false,
      });
      onCleanup(() => {
        socket.disconnect();
      });
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", reject);
      });
      return socket;
    };
    const users = await Promise.all(["u0", "u1", "u2", "u3"].map(connect));
    const [u0, u1] = users as [ClientSocket, ClientSocket];
    const { conversation } = await requestOk(u0, "conversation:create", {
      memberIds: ["u1", "u2", "u3"],
    });
    const received = Promise.all(
      users.slice(1).map((socket) => nextEvent(socket, "message:new")),
    );
    await requestOk(u0, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "c1",
      text: "via the balancer",
    });
    for (const message of await received)
      expect(message.text).toBe("via the balancer");
    await requestOk(u1, "conversation:list", {});

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
