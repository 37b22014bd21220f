/**
 * Soak: connect, open, type, send and disconnect cycles for a fixed time
 * against one server in this process, sampling heap and RSS after a
 * garbage collection every interval. It prints the samples and the heap
 * growth per 1,000 cycles over the second half, which stays near zero when
 * nothing leaks.
 *
 *   node --expose-gc --import tsx bench/soak.ts [--minutes 5] [--users 50]
 */
import { randomBytes } from "node:crypto";
import { io as connectClient, type Socket } from "socket.io-client";
import { createApp } from "../server/src/app.js";
import { loadConfig } from "../server/src/config.js";
import { createLogger } from "../server/src/observability/logger.js";
import { createBackend } from "../server/src/stores/index.js";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(
      `--${name} must be a positive number, got ${process.argv[index + 1]}`,
    );
  }
  return value;
}

const minutes = option("minutes", 5);
const users = option("users", 50);
/** Hard cap on cycles, whatever the time, so a fast machine still stops. */
const maxCycles = option("max-cycles", 2_000_000);
const sampleEveryMs = option("sample-seconds", 10) * 1000;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

type AckResponse = { ok: boolean } & Record<string, unknown>;
const call = (socket: Socket, event: string, payload: unknown) =>
  socket.timeout(5000).emitWithAck(event, payload) as Promise<AckResponse>;

async function main() {
  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "warn",
    AUTH_JWT_SECRET: "soak-secret-that-is-long-enough-for-hs256",
    SERVER_API_KEY: "soak-server-api-key",
    // Small stores reach their caps early, so what grows after that is a leak.
    HISTORY_LIMIT: "50",
    PUSH_DECISION_LOG_LIMIT: "20",
    PUSH_DEBOUNCE_MS: "200",
    PUSH_MAX_WAIT_MS: "1000",
    PUSH_MAX_PER_USER_PER_MINUTE: "1000000",
    RATE_SEND_PER_USER: "1000000",
    RATE_SEND_PER_SOCKET: "1000000",
    RATE_EVENTS_PER_SOCKET: "1000000",
    RATE_API_PER_MINUTE: "1000000",
    RATE_CREATE_PER_USER: "1000000",
  });
  const logger = createLogger(config.logLevel);
  const nodeId = `soak-${randomBytes(3).toString("hex")}`;
  const app = createApp({
    config,
    logger,
    backend: await createBackend(config, logger, nodeId),
    nodeId,
  });
  const port = await app.listen();
  const url = `http://127.0.0.1:${port}`;

  const token = async (userId: string) => {
    const response = await fetch(`${url}/api/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId }),
    });
    return ((await response.json()) as { token: string }).token;
  };
  const tokens = await Promise.all(
    Array.from({ length: users }, (_, index) => token(`soak${index}`)),
  );
  const owner = connectClient(url, {
    auth: { token: await token("owner") },
    transports: ["websocket"],
  });
  await new Promise<void>((resolve) => owner.once("connect", () => resolve()));
  const conversations: string[] = [];
  for (let index = 0; index < users; index++) {
    const response = await call(owner, "conversation:create", {
      memberIds: [`soak${index}`],
    });
    conversations.push((response.conversation as { id: string }).id);
  }

  const deadline = Date.now() + minutes * 60_000;
  const samples: {
    atMs: number;
    cycles: number;
    heapMb: number;
    rssMb: number;
  }[] = [];
  const started = Date.now();
  let cycles = 0;
  let nextSample = Date.now();
  console.log(`soak: ${minutes} min, ${users} users, server ${url}`);
  console.log("elapsed s | cycles | heap MB | RSS MB");
  while (Date.now() < deadline && cycles < maxCycles) {
    const index = cycles % users;
    const socket = connectClient(url, {
      auth: { token: tokens[index] },
      transports: ["websocket"],
      reconnection: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    const conversationId = conversations[index]!;
    await call(socket, "conversation:open", { conversationId });
    await call(socket, "typing", { conversationId, isTyping: true });
    await call(socket, "message:send", {
      conversationId,
      clientMessageId: `s${cycles}`,
      text: "soak",
    });
    socket.disconnect();
    cycles++;
    if (Date.now() >= nextSample) {
      gc!();
      const memory = process.memoryUsage();
      const sample = {
        atMs: Date.now() - started,
        cycles,
        heapMb: memory.heapUsed / 1024 / 1024,
        rssMb: memory.rss / 1024 / 1024,
      };
      samples.push(sample);
      console.log(
        `${(sample.atMs / 1000).toFixed(0).padStart(9)} | ${String(cycles).padStart(6)} | ${sample.heapMb.toFixed(1).padStart(7)} | ${sample.rssMb.toFixed(1).padStart(6)}`,
      );
      nextSample = Date.now() + sampleEveryMs;
    }
  }

  owner.disconnect();
  await app.close();
  const half = samples.slice(Math.floor(samples.length / 2));
  if (half.length >= 2) {
    const first = half[0]!;
    const last = half.at(-1)!;
    const perThousand =
      ((last.heapMb - first.heapMb) / Math.max(1, last.cycles - first.cycles)) *
      1000;
    console.log(
      `heap growth over the second half: ${perThousand.toFixed(3)} MB per 1,000 cycles (${cycles} cycles in all)`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
