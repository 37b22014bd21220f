import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { onCleanup, TEST_JWT_SECRET, TEST_SERVER_KEY } from "./server.js";

export const REDIS_TEST_URL =
  process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379";

export interface NodeProcess {
  nodeId: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** JSON log lines of the node, oldest first. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (null after a signal) once the process ends. */
  exited: Promise<number | null>;
}

/** Starts one server node as a child process, as `npm start` would, and waits until it listens. */
export async function startNode(
  env: Record<string, string>,
): Promise<NodeProcess> {
  const nodeId = env.NODE_ID ?? `node-${randomBytes(3).toString("hex")}`;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "server/src/main.ts"],
    {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "info",
        NODE_ENV: "test",
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        SERVER_API_KEY: TEST_SERVER_KEY,
        NODE_ID: nodeId,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  const stderr: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const logs: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (
        typeof entry.port === "number" &&
        String(entry.msg).includes("listening")
      )
        resolve(entry.port);
    });
    void exited.then((code) =>
      reject(
        new Error(`node ${nodeId} exited with ${code}: ${stderr.join("")}`),
      ),
    );
  });
  return { nodeId, port, url: `http://127.0.0.1:${port}`, child, logs, exited };
}

/** Returns a key prefix of its own for one test, so deployments never share keys. */
export function randomDeployment(): string {
  return `test:${randomBytes(6).toString("hex")}:`;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null)
    throw new Error("no port");
  return address.port;
}

export interface RedisProcess {
  url: string;
  port: number;
  /** Stops the server at once, like a crash; the append-only file keeps what was written. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  restart(): Promise<void>;
}

/**
 * Starts a redis-server of the test's own on a free port, with the
 * append-only file on, so a restart keeps the data as in production.
 */
export async function startRedis(): Promise<RedisProcess> {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"));
  const port = await freePort();
  let child: ChildProcess | null = null;

  const launch = async () => {
    const started = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = started;
    await new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        if (line.includes("Ready to accept connections")) resolve();
      };
      createInterface({ input: started.stdout! }).on("line", onLine);
      started.once("exit", (code) =>
        reject(new Error(`redis-server exited with ${code}`)),
      );
    });
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null)
      return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  await launch();
  onCleanup(kill);
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: launch };
}
