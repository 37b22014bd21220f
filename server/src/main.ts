import { createApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./observability/logger.js";
import { createStoresFor } from "./stores/index.js";

function start() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const logger = createLogger(config.logLevel);
  if (config.auth.usesDevSecrets) {
    logger.warn(
      "AUTH_JWT_SECRET or SERVER_API_KEY is not set; using insecure development defaults",
    );
  }
  const app = createApp({ config, logger, ...createStoresFor(config) });

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

  app.listen().then(
    (port) => {
      logger.info(
        {
          port,
          host: config.host,
          nodeId: app.nodeId,
          devAuth: config.auth.devAuth,
          store: "memory",
        },
        `chat server listening on http://localhost:${port}`,
      );
    },
    (error: unknown) => {
      logger.fatal({ err: error, port: config.port }, "could not listen");
      process.exit(1);
    },
  );
}

start();
