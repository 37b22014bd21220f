import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createBackend } from "./stores/index.js";

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function start(config: Config, logger: Logger) {
  if (config.auth.usesDevSecrets) {
    logger.warn(
      "AUTH_JWT_SECRET or SERVER_API_KEY is not set; using insecure development defaults",
    );
  }
  const nodeId =
    config.nodeId ??
    `${hostname().slice(0, 40)}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const backend = await createBackend(config, logger, nodeId);
  const app = createApp({ config, logger, backend, nodeId });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "received signal");
    const forceExit = setTimeout(() => {
      logger.error(
        { timeoutMs: config.shutdownTimeoutMs },
        "shutdown timed out; exiting",
      );
      process.exit(1);
    }, config.shutdownTimeoutMs + 1000);
    forceExit.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const port = await app.listen();
  logger.info(
    {
      port,
      host: config.host,
      nodeId,
      devAuth: config.auth.devAuth,
      store: backend.mode,
      pushMode: app.outbox ? "dry-run" : "onesignal",
    },
    `chat server listening on http://localhost:${port}`,
  );
}

const config = readConfig();
const logger = createLogger(config.logLevel);
start(config, logger).catch((error: unknown) => {
  logger.fatal({ err: error, port: config.port }, "start-up failed");
  process.exit(1);
});
