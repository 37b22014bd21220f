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

/** A key prefix of its own for one test, so deployments never share keys. */
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
