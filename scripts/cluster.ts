/**
 * Runs the scale-out topology from local processes: chat server nodes that
 * share one Redis, and a sticky load balancer in front of them. This is the
 * docker-compose.yml setup for machines without Docker.
 *
 *   npm run cluster -- --port 3000 --node-ports 3001,3002
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import { startBalancer, type Balancer } from "./balancer.js";

const USAGE = `Usage: npm run cluster -- [options]

Starts one chat server node per node port and a load balancer in front.

Options (environment variable in brackets):
  --host HOST              interface for the balancer and the nodes [CLUSTER_HOST] (127.0.0.1)
  --port PORT              balancer TCP port, 0 picks a free one [CLUSTER_PORT] (3000)
  --node-ports LIST        comma-separated TCP ports, one node each [CLUSTER_NODE_PORTS] (3001,3002)
  --redis-url URL          Redis that the nodes share, empty for in-memory nodes [REDIS_URL] (redis://127.0.0.1:6379)
  --redis-prefix PREFIX    key prefix that the nodes share [REDIS_PREFIX] (chat:)
  --health-path PATH       path the balancer checks every second [CLUSTER_HEALTH_PATH] (/healthz)
  -h, --help               print this help

Every other variable, such as AUTH_JWT_SECRET or LOG_LEVEL, is passed to the nodes.`;

interface ClusterOptions {
  host: string;
  port: number;
  nodePorts: number[];
  redisUrl: string;
  redisPrefix: string;
  healthPath: string;
}

interface NodeProcess {
  name: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Time a node gets to exit after SIGTERM, which is its own shutdown timeout plus 2 s. */
const killAfterMs = (Number(process.env.SHUTDOWN_TIMEOUT_MS) || 10_000) + 2000;

function parseOptions(): ClusterOptions {
  const { values } = parseArgs({
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "node-ports": { type: "string" },
      "redis-url": { type: "string" },
      "redis-prefix": { type: "string" },
      "health-path": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const env = process.env;
  const nodePortList =
    values["node-ports"] ?? env.CLUSTER_NODE_PORTS ?? "3001,3002";
  const nodePorts = nodePortList
    .split(",")
    .map((entry) => parsePort(entry.trim(), "--node-ports", 1));
  if (new Set(nodePorts).size !== nodePorts.length) {
    throw new Error(`--node-ports contains a duplicate port: ${nodePortList}`);
  }
  return {
    host: values.host ?? env.CLUSTER_HOST ?? "127.0.0.1",
    port: parsePort(values.port ?? env.CLUSTER_PORT ?? "3000", "--port", 0),
    nodePorts,
    redisUrl: values["redis-url"] ?? env.REDIS_URL ?? "redis://127.0.0.1:6379",
    redisPrefix: values["redis-prefix"] ?? env.REDIS_PREFIX ?? "chat:",
    healthPath: values["health-path"] ?? env.CLUSTER_HEALTH_PATH ?? "/healthz",
  };
}

function parsePort(text: string, option: string, min: number): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < min || port > 65_535) {
    throw new Error(
      `${option} must be a TCP port from ${min} to 65535, got "${text}"`,
    );
  }
  return port;
}

/** Returns the URL with its password masked, for logs. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.includes("@") ? "(unparsable URL with credentials)" : url;
  }
}

/** Creates a JSON logger whose lines start with `[name] `, like the nodes' lines. */
function createPrefixedLogger(name: string): Logger {
  return pino(
    { base: { service: name } },
    { write: (line: string) => process.stdout.write(`[${name}] ${line}`) },
  );
}

/** Copies each line of `input` to `output` with the node name in front. */
function streamLines(
  input: NodeJS.ReadableStream,
  output: NodeJS.WriteStream,
  name: string,
) {
  createInterface({ input }).on("line", (line) => {
    output.write(`[${name}] ${line}\n`);
  });
}

function startNode(
  name: string,
  port: number,
  options: ClusterOptions,
): NodeProcess {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "server/src/main.ts"],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        HOST: options.host,
        PORT: String(port),
        REDIS_URL: options.redisUrl,
        REDIS_PREFIX: options.redisPrefix,
        NODE_ID: name,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  streamLines(child.stdout!, process.stdout, name);
  streamLines(child.stderr!, process.stderr, name);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  return { name, port, child, exited };
}

function isRunning(node: NodeProcess): boolean {
  return node.child.exitCode === null && node.child.signalCode === null;
}

async function main() {
  let options: ClusterOptions;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }

  const logger = createPrefixedLogger("cluster");
  const balancerLogger = createPrefixedLogger("balancer");
  if (options.redisUrl === "") {
    logger.warn(
      {},
      "REDIS_URL is empty, so each node keeps its own state in memory and users on different nodes do not see each other",
    );
  }

  const nodes = options.nodePorts.map((port, index) =>
    startNode(`chat-${index + 1}`, port, options),
  );
  for (const node of nodes) {
    logger.info(
      { node: node.name, pid: node.child.pid, port: node.port },
      `started ${node.name} on http://${options.host}:${node.port}`,
    );
  }
  process.on("exit", () => {
    for (const node of nodes) if (isRunning(node)) node.child.kill("SIGKILL");
  });

  let balancer: Balancer | null = null;
  let shuttingDown = false;

  const shutdown = async (exitCode: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({}, "stopping the balancer and the nodes");
    await balancer?.close();
    for (const node of nodes) if (isRunning(node)) node.child.kill("SIGTERM");
    const forceKill = setTimeout(() => {
      for (const node of nodes) {
        if (!isRunning(node)) continue;
        logger.warn(
          { node: node.name, timeoutMs: killAfterMs },
          `${node.name} did not exit after SIGTERM, sending SIGKILL`,
        );
        node.child.kill("SIGKILL");
      }
    }, killAfterMs);
    await Promise.all(nodes.map((node) => node.exited));
    clearTimeout(forceKill);
    logger.info({}, "stopped");
    process.exit(exitCode);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.warn({ signal }, "second signal, killing the nodes now");
      for (const node of nodes) if (isRunning(node)) node.child.kill("SIGKILL");
      process.exit(1);
    }
    logger.info({ signal }, "received signal");
    void shutdown(0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // SIGTERM to `npm run cluster` (seen with npm 11.19) ends npm and its shell
  // but not this process, which then gets a new parent. Stop when that happens.
  const parentPid = process.ppid;
  setInterval(() => {
    if (process.ppid === parentPid || shuttingDown) return;
    logger.warn({ parentPid }, "parent process exited, stopping");
    void shutdown(0);
  }, 1000).unref();

  for (const node of nodes) {
    node.child.once("exit", (code, signal) => {
      if (shuttingDown) return;
      if (nodes.some(isRunning)) {
        logger.warn(
          { node: node.name, code, signal },
          `${node.name} exited; the balancer sends its traffic to the other nodes`,
        );
        return;
      }
      logger.error(
        { node: node.name, code, signal },
        `${node.name} exited and no node is left, so stopping`,
      );
      void shutdown(1);
    });
  }

  let ready = false;
  const reportReadyOnce = () => {
    if (ready || balancer === null) return;
    if (balancer.backends().every((backend) => backend.state === "up")) {
      ready = true;
      logger.info({ url: balancer.url }, `cluster ready on ${balancer.url}`);
    }
  };
  try {
    balancer = await startBalancer({
      port: options.port,
      host: options.host,
      backends: nodes.map((node) => ({
        name: node.name,
        host: options.host,
        port: node.port,
      })),
      healthPath: options.healthPath,
      logger: balancerLogger,
      onHealthChange: reportReadyOnce,
    });
  } catch (error) {
    logger.error(
      { err: error, port: options.port },
      `balancer could not listen on ${options.host}:${options.port}`,
    );
    await shutdown(1);
    return;
  }
  logger.info(
    {
      balancer: balancer.url,
      nodes: nodes.map((node) => `http://${options.host}:${node.port}`),
      redisUrl: withoutPassword(options.redisUrl) || null,
      redisPrefix: options.redisPrefix,
    },
    `balancer on ${balancer.url}; waiting for the nodes to pass ${options.healthPath}`,
  );
  reportReadyOnce();
}

await main();
