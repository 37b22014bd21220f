import { z } from "zod";

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
  HOST: z.string().min(1).default("0.0.0.0"),
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
  CONVERSATION_MAX_MEMBERS: positiveInt.max(10_000).default(256),
  MAX_PAYLOAD_BYTES: positiveInt.default(65_536),
  TYPING_TTL_MS: positiveInt.default(5000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
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
    /** Largest Socket.IO packet and HTTP body in bytes. */
    maxPayloadBytes: number;
  };
  typingTtlMs: number;
  shutdownTimeoutMs: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
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

  return {
    nodeEnv: vars.NODE_ENV,
    host: vars.HOST,
    port: vars.PORT,
    auth: {
      jwtSecret: vars.AUTH_JWT_SECRET ?? DEV_JWT_SECRET,
      serverApiKey: vars.SERVER_API_KEY ?? DEV_SERVER_API_KEY,
      devAuth: vars.DEV_AUTH ?? !production,
      usesDevSecrets: !vars.AUTH_JWT_SECRET || !vars.SERVER_API_KEY,
    },
    limits: {
      messageMaxLength: vars.MESSAGE_MAX_LENGTH,
      historyLimit: vars.HISTORY_LIMIT,
      conversationMaxMembers: vars.CONVERSATION_MAX_MEMBERS,
      maxPayloadBytes: vars.MAX_PAYLOAD_BYTES,
    },
    typingTtlMs: vars.TYPING_TTL_MS,
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
    logLevel: vars.LOG_LEVEL,
  };
}
