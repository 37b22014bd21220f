import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/server.js";

/** Starts `npm start`'s entry point as a child process and resolves with its port once it listens. */
async function startProcess(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "server/src/main.ts"],
    {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  onCleanup(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const stderr: string[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const logs: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (
        typeof entry.port === "number" &&
        String(entry.msg).includes("listening")
      )
        resolve(entry.port);
    });
    child.once("exit", (code) =>
      reject(new Error(`exited with ${code}: ${stderr.join("")}`)),
    );
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return { child, port, logs, exited, stderr };
}

describe("server process", () => {
  it("starts with defaults and shuts down cleanly on SIGTERM", async () => {
    const { child, port, exited, logs } = await startProcess({});
    expect(
      (
        (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
          status: string;
        }
      ).status,
    ).toBe("ok");

    const tokenResponse = await fetch(
      `http://127.0.0.1:${port}/api/dev/token`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: "anna" }),
      },
    );
    const { token } = (await tokenResponse.json()) as { token: string };
    const socket = connectClient(`http://127.0.0.1:${port}`, {
      auth: { token },
      transports: ["websocket"],
      reconnection: false,
    });
    await new Promise<void>((resolve) =>
      socket.once("connect", () => resolve()),
    );
    const disconnected = new Promise<string>((resolve) =>
      socket.once("disconnect", (reason) => resolve(reason)),
    );

    child.kill("SIGTERM");
    // A transport close, unlike "io server disconnect", makes clients reconnect on their own.
    expect(await disconnected).toBe("transport close");
    expect(await exited).toBe(0);
    expect(logs.some((entry) => entry.msg === "shut down")).toBe(true);
    expect(JSON.stringify(logs)).not.toContain(token);
  });

  it("refuses to start with invalid config and names the variable", async () => {
    await expect(startProcess({ MESSAGE_MAX_LENGTH: "lots" })).rejects.toThrow(
      /MESSAGE_MAX_LENGTH/,
    );
    await expect(startProcess({ NODE_ENV: "production" })).rejects.toThrow(
      /AUTH_JWT_SECRET/,
    );
  });
});
