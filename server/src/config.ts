import { readFileSync } from "node:fs";
import { z } from "zod";
import {
  mergeTemplates,
  templateFileSchema,
  type ActivityTemplates,
} from "./activity/templates.js";

/** Value of AUTH_JWT_SECRET outside production when none is set; never safe to deploy. */
export const DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me";
/** Value of SERVER_API_KEY outside production when none is set; never safe to deploy. */
export const DEV_SERVER_API_KEY = "dev-only-insecure-server-key";

const booleanFlag = z
  .enum(["true", "false", "1", "0", "yes", "no", "on", "off"])
  .transform((value) => ["true", "1", "yes", "on"].includes(value));

const positiveInt = z.coerce.number().int().positive();

const envSchema = z.object({
  NODE_ENV: z
    .enum(["development", "production", "test"])
    .default("development"),
  HOST: z.string().min(1).optional(),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  AUTH_JWT_SECRET: z
    .string()
    .min(32, "must be at least 32 characters")
    .optional(),
  SERVER_API_KEY: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional(),
  DEV_AUTH: booleanFlag.optional(),
  MESSAGE_MAX_LENGTH: positiveInt.max(100_000).default(4000),
  HISTORY_LIMIT: positiveInt.default(1000),
  CONVERSATION_MAX_MEMBERS: positiveInt.min(2).max(10_000).default(256),
  MAX_PAYLOAD_BYTES: positiveInt.min(4096).default(65_536),
  CLIENT_CONVERSATION_CREATE: booleanFlag.default(true),
  TYPING_TTL_MS: positiveInt.default(5000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
  ONESIGNAL_APP_ID: z.uuid("must be a UUID").optional(),
  ONESIGNAL_REST_API_KEY: z.string().min(1).optional(),
  ONESIGNAL_API_URL: z
    .url()
    .refine(
      (url) => /^https?:$/.test(new URL(url).protocol),
      "must be an http:// or https:// URL",
    )
    .default("https://api.onesignal.com"),
  ONESIGNAL_TIMEOUT_MS: positiveInt.default(10_000),
  ONESIGNAL_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  ONESIGNAL_RETRY_BASE_MS: positiveInt.default(1000),
  ONESIGNAL_MAX_CONNECTIONS: positiveInt.max(1000).default(64),
  PUSH_DEBOUNCE_MS: positiveInt.default(4000),
  PUSH_MAX_WAIT_MS: positiveInt.default(30_000),
  PUSH_ACK_TIMEOUT_MS: positiveInt.default(2000),
  PUSH_MAX_PER_USER_PER_MINUTE: positiveInt.default(12),
  PUSH_INCLUDE_CONTENT: booleanFlag.default(true),
  PUSH_DECISION_LOG_LIMIT: positiveInt.default(200),
  ACTIVITY_ROLLUP_MS: positiveInt.default(30_000),
  ACTIVITY_ID_RETENTION_MS: positiveInt.default(24 * 60 * 60 * 1000),
  ACTIVITY_TEMPLATES_FILE: z.string().min(1).optional(),
  REDIS_URL: z
    .url()
    .refine(
      (url) => /^rediss?:$/.test(new URL(url).protocol),
      "must start with redis:// or rediss://",
    )
    .optional(),
  REDIS_PREFIX: z
    .string()
    .min(1)
    .max(100)
    .regex(
      /^[A-Za-z0-9_.:{}-]+$/,
      "may contain only letters, digits and _ . : { } -",
    )
    .default("chat:"),
  NODE_ID: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.-]+$/, "may contain only letters, digits and _ . -")
    .optional(),
  MAX_CONNECTIONS_PER_USER: positiveInt.default(20),
  RATE_SEND_PER_USER: positiveInt.default(60),
  RATE_SEND_PER_SOCKET: positiveInt.default(30),
  RATE_TYPING_PER_SOCKET: positiveInt.default(20),
  RATE_EVENTS_PER_SOCKET: positiveInt.default(200),
  RATE_API_PER_MINUTE: positiveInt.default(1200),
  RATE_ACTIVITIES_PER_MINUTE: positiveInt.default(6000),
  RATE_CREATE_PER_USER: positiveInt.default(30),
  PING_INTERVAL_MS: positiveInt.default(10_000),
  PING_TIMEOUT_MS: positiveInt.default(5000),
  MAX_BUFFERED_BYTES: positiveInt.default(1_048_576),
  CORS_ORIGINS: z.string().optional(),
  TRUST_PROXY: z.string().min(1).optional(),
  NODE_HEARTBEAT_MS: positiveInt.default(2000),
  NODE_LEASE_MS: positiveInt.default(10_000),
});

export interface Config {
  nodeEnv: "development" | "production" | "test";
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  auth: {
    jwtSecret: string;
    serverApiKey: string;
    /** Serves POST /api/dev/token and the dev-only endpoints. */
    devAuth: boolean;
    /** True while the dev defaults above are in use, so start-up can warn. */
    usesDevSecrets: boolean;
  };
  limits: {
    /** Maximum message text length in UTF-16 code units. */
    messageMaxLength: number;
    /** Messages kept per conversation; older ones are trimmed. */
    historyLimit: number;
    conversationMaxMembers: number;
    /** False lets only the app's backend (POST /api/conversations) create conversations. */
    clientConversationCreate: boolean;
    /** Largest Socket.IO packet and HTTP body in bytes. */
    maxPayloadBytes: number;
  };
  typingTtlMs: number;
  /** Rate and connection limits; every rate counts events per window. */
  rateLimits: {
    /** Connected sockets per user; more are rejected in the handshake. */
    connectionsPerUser: number;
    /** `message:send` per user, over all devices, per 10 s. */
    sendPerUser: number;
    /** `message:send` per socket per 10 s. */
    sendPerSocket: number;
    /** `typing` per socket per 10 s. */
    typingPerSocket: number;
    /** Client events of any kind per socket per 10 s. */
    eventsPerSocket: number;
    /** HTTP requests per API key (or per client address without one) per minute. */
    apiPerMinute: number;
    /** Activity reports, counted per item, per API key per minute. */
    activitiesPerMinute: number;
    /** `conversation:create` per user per minute. */
    createPerUser: number;
  };
  socket: {
    /** Socket.IO heartbeat: a ping every pingIntervalMs, dropped after pingTimeoutMs without a pong. */
    pingIntervalMs: number;
    pingTimeoutMs: number;
    /** Bytes queued for a client that does not read, above which it is disconnected. */
    maxBufferedBytes: number;
    /** Browser origins allowed to connect: a list, or "*" for any. */
    corsOrigins: string[] | "*";
  };
  /**
   * Express "trust proxy" setting, so rate limits see the client address
   * behind a load balancer: a hop count, or addresses and names such as
   * "loopback" or "10.0.0.0/8". Null trusts no proxy.
   */
  trustProxy: number | string | null;
  shutdownTimeoutMs: number;
  push: PushConfig;
  activity: {
    /** Window in ms in which reports of one action on one object become one push. */
    rollupMs: number;
    /** How long in ms a report's activity_id is remembered to drop repeats. */
    idRetentionMs: number;
    /** Templates per language, the defaults merged with ACTIVITY_TEMPLATES_FILE. */
    templates: ActivityTemplates;
  };
  /** Null runs one process with in-memory state. */
  redis: {
    url: string;
    /** Start of every Redis key and of the Socket.IO adapter's channels. */
    prefix: string;
    /** How often in ms a node renews its lease and looks for dead nodes. */
    heartbeatMs: number;
    /** A node that has not renewed its lease for this many ms is dead. */
    leaseMs: number;
  } | null;
  /** Name of this process among the nodes; random when NODE_ID is unset. */
  nodeId: string | null;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

export interface PushConfig {
  /** OneSignal credentials; null runs the dry-run outbox instead of sending. */
  oneSignal: {
    appId: string;
    restApiKey: string;
    apiUrl: string;
  } | null;
  /** Per-request timeout of OneSignal calls, in ms. */
  requestTimeoutMs: number;
  /** Retries after the first attempt for 429, 5xx, timeouts and network errors. */
  maxRetries: number;
  /** Keep-alive connections to OneSignal; more requests at once wait for one. */
  maxConnections: number;
  /** First retry delay in ms; it doubles on each retry unless Retry-After sets the delay. */
  retryBaseMs: number;
  /** Quiet time in ms after the last message of a burst before its push fires. */
  debounceMs: number;
  /** Maximum time in ms from the first unpushed message to its push. */
  maxWaitMs: number;
  /** Time in ms a viewing device has to ack `message:new` before a push is scheduled anyway. */
  ackTimeoutMs: number;
  /** Pushes per user in any rolling minute. */
  maxPerUserPerMinute: number;
  /** False sends no message text in pushes, only who wrote and how many. */
  includeContent: boolean;
  /** Push decisions kept per user for the decision log endpoint. */
  decisionLogLimit: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses the environment once at start-up. Throws ConfigError naming every
 * invalid variable, and refuses production without real secrets.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Compose files often pass unset variables as empty strings; treat them as unset.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".")}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const vars = parsed.data;
  const production = vars.NODE_ENV === "production";

  if (Boolean(vars.ONESIGNAL_APP_ID) !== Boolean(vars.ONESIGNAL_REST_API_KEY)) {
    throw new ConfigError(
      "Invalid configuration: set both ONESIGNAL_APP_ID and ONESIGNAL_REST_API_KEY, or neither for the dry-run outbox",
    );
  }
  if (vars.PUSH_MAX_WAIT_MS < vars.PUSH_DEBOUNCE_MS) {
    throw new ConfigError(
      "Invalid configuration: PUSH_MAX_WAIT_MS must not be less than PUSH_DEBOUNCE_MS",
    );
  }

  if (vars.NODE_LEASE_MS < vars.NODE_HEARTBEAT_MS * 2) {
    throw new ConfigError(
      "Invalid configuration: NODE_LEASE_MS must be at least twice NODE_HEARTBEAT_MS, so one late heartbeat does not end a lease",
    );
  }

  if (production) {
    const missing = (["AUTH_JWT_SECRET", "SERVER_API_KEY"] as const).filter(
      (name) => !vars[name],
    );
    if (missing.length > 0) {
      throw new ConfigError(
        `Invalid configuration: ${missing.join(", ")} must be set when NODE_ENV=production`,
      );
    }
    if (vars.DEV_AUTH === true) {
      throw new ConfigError(
        "Invalid configuration: DEV_AUTH cannot be enabled when NODE_ENV=production",
      );
    }
  }

  const usesDevSecrets = !vars.AUTH_JWT_SECRET || !vars.SERVER_API_KEY;
  return {
    nodeEnv: vars.NODE_ENV,
    // With the public dev secrets anyone who reaches the server could mint
    // tokens, so it listens on loopback only unless HOST is set.
    host: vars.HOST ?? (usesDevSecrets ? "127.0.0.1" : "0.0.0.0"),
    port: vars.PORT,
    auth: {
      jwtSecret: vars.AUTH_JWT_SECRET ?? DEV_JWT_SECRET,
      serverApiKey: vars.SERVER_API_KEY ?? DEV_SERVER_API_KEY,
      devAuth: vars.DEV_AUTH ?? !production,
      usesDevSecrets,
    },
    limits: {
      messageMaxLength: vars.MESSAGE_MAX_LENGTH,
      historyLimit: vars.HISTORY_LIMIT,
      conversationMaxMembers: vars.CONVERSATION_MAX_MEMBERS,
      clientConversationCreate: vars.CLIENT_CONVERSATION_CREATE,
      maxPayloadBytes: vars.MAX_PAYLOAD_BYTES,
    },
    typingTtlMs: vars.TYPING_TTL_MS,
    rateLimits: {
      connectionsPerUser: vars.MAX_CONNECTIONS_PER_USER,
      sendPerUser: vars.RATE_SEND_PER_USER,
      sendPerSocket: vars.RATE_SEND_PER_SOCKET,
      typingPerSocket: vars.RATE_TYPING_PER_SOCKET,
      eventsPerSocket: vars.RATE_EVENTS_PER_SOCKET,
      apiPerMinute: vars.RATE_API_PER_MINUTE,
      activitiesPerMinute: vars.RATE_ACTIVITIES_PER_MINUTE,
      createPerUser: vars.RATE_CREATE_PER_USER,
    },
    trustProxy:
      vars.TRUST_PROXY === undefined
        ? null
        : /^\d+$/.test(vars.TRUST_PROXY)
          ? Number(vars.TRUST_PROXY)
          : vars.TRUST_PROXY,
    socket: {
      pingIntervalMs: vars.PING_INTERVAL_MS,
      pingTimeoutMs: vars.PING_TIMEOUT_MS,
      maxBufferedBytes: vars.MAX_BUFFERED_BYTES,
      corsOrigins: parseOrigins(vars.CORS_ORIGINS, production),
    },
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
    redis: vars.REDIS_URL
      ? {
          url: vars.REDIS_URL,
          prefix: vars.REDIS_PREFIX,
          heartbeatMs: vars.NODE_HEARTBEAT_MS,
          leaseMs: vars.NODE_LEASE_MS,
        }
      : null,
    nodeId: vars.NODE_ID ?? null,
    activity: {
      rollupMs: vars.ACTIVITY_ROLLUP_MS,
      idRetentionMs: vars.ACTIVITY_ID_RETENTION_MS,
      templates: loadTemplates(vars.ACTIVITY_TEMPLATES_FILE),
    },
    push: {
      oneSignal:
        vars.ONESIGNAL_APP_ID && vars.ONESIGNAL_REST_API_KEY
          ? {
              appId: vars.ONESIGNAL_APP_ID,
              restApiKey: vars.ONESIGNAL_REST_API_KEY,
              apiUrl: vars.ONESIGNAL_API_URL.replace(/\/+$/, ""),
            }
          : null,
      requestTimeoutMs: vars.ONESIGNAL_TIMEOUT_MS,
      maxRetries: vars.ONESIGNAL_MAX_RETRIES,
      retryBaseMs: vars.ONESIGNAL_RETRY_BASE_MS,
      maxConnections: vars.ONESIGNAL_MAX_CONNECTIONS,
      debounceMs: vars.PUSH_DEBOUNCE_MS,
      maxWaitMs: vars.PUSH_MAX_WAIT_MS,
      ackTimeoutMs: vars.PUSH_ACK_TIMEOUT_MS,
      maxPerUserPerMinute: vars.PUSH_MAX_PER_USER_PER_MINUTE,
      includeContent: vars.PUSH_INCLUDE_CONTENT,
      decisionLogLimit: vars.PUSH_DECISION_LOG_LIMIT,
    },
    logLevel: vars.LOG_LEVEL,
  };
}

/** Reads ACTIVITY_TEMPLATES_FILE and merges it over the default templates. */
function loadTemplates(path: string | undefined): ActivityTemplates {
  if (path === undefined) return mergeTemplates({});
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(
      `Invalid configuration: ACTIVITY_TEMPLATES_FILE: cannot read ${path} as JSON (${(error as Error).message})`,
    );
  }
  const parsed = templateFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `Invalid configuration: ACTIVITY_TEMPLATES_FILE: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return mergeTemplates(parsed.data);
}

/**
 * CORS_ORIGINS: "*" or a comma-separated list of origins. Unset means any
 * origin in development and same-origin only in production.
 */
function parseOrigins(
  value: string | undefined,
  production: boolean,
): string[] | "*" {
  if (value === undefined) return production ? [] : "*";
  if (value.trim() === "*") return "*";
  const origins = value
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin.length > 0);
  for (const origin of origins) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(
        `Invalid configuration: CORS_ORIGINS: ${origin} is not an origin such as https://app.example.com`,
      );
    }
    if (parsed.origin !== origin) {
      throw new ConfigError(
        `Invalid configuration: CORS_ORIGINS: ${origin} is not an origin; use ${parsed.origin}`,
      );
    }
  }
  return origins;
}
