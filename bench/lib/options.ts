import { parseArgs } from "node:util";
import { DEFAULT_REDIS_URL } from "./redis.js";

export const SCENARIOS = [
  "throughput",
  "latency",
  "memory",
  "push",
  "redis",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface PushOptions {
  groups: number;
  members: number;
  offlineShare: number;
  burstMessages: number;
  burstGapMs: number;
  /** Bursts per sender in one push scenario run, each waited for until its pushes arrive. */
  waves: number;
  debounceMs: number;
  maxWaitMs: number;
}

export interface BenchOptions {
  rounds: number;
  scenarios: ScenarioName[];
  /** Connections of the throughput and latency scenarios; even, two per conversation. */
  connections: number;
  window: number;
  durationMs: number;
  warmupMs: number;
  drainMs: number;
  /** Messages per second in the latency scenario. */
  rate: number;
  idleConnections: number;
  memory: {
    /** Time in ms a node idles after start and after the ramp before its memory is read. */
    settleMs: number;
    /** Memory samples after each settle; their median is used. */
    samples: number;
  };
  generators: number;
  connectConcurrency: number;
  textLength: number;
  push: PushOptions;
  profile: boolean;
  outDir: string;
  redisUrl: string;
  smoke: boolean;
}

export const HELP = `Usage: npm run bench -- [options]

Runs the chat server and the bare Socket.IO relay baselines interleaved,
with fresh processes for every run, and prints medians with min and max
over the rounds and the ratios against the baselines.

Options:
  --rounds N            rounds of every scenario (default 3)
  --scenarios LIST      comma-separated: ${SCENARIOS.join(",")} (default all)
  --connections N       connections in the throughput and latency scenarios,
                        two per direct conversation (default 1000)
  --window N            unacknowledged sends per connection in the throughput
                        scenario (default 16)
  --duration S          measured seconds of the throughput and latency
                        scenarios (default 10)
  --warmup S            seconds sent before measuring (default 2)
  --rate N              messages per second in the latency scenario (default 2000)
  --idle N              idle connections in the memory scenario (default 5000)
  --generators N        load generator processes (default 1)
  --push-groups N       group conversations in the push scenario (default 100)
  --push-members N      recipients per group (default 40)
  --push-offline F      share of recipients that are offline, 0..1 (default 0.5)
  --push-burst N        messages per burst (default 5)
  --push-waves N        bursts per sender, one after another (default 3)
  --profile, --no-profile
                        profile the chat server under the throughput scenario
                        with node --cpu-prof after the rounds (default on,
                        off with --smoke)
  --out DIR             results directory (default bench/results, or
                        bench/results/smoke with --smoke)
  --redis-url URL       Redis on this machine (default ${DEFAULT_REDIS_URL})
  --smoke               tiny run for CI: 1 round, 50 connections, 1 s measured
                        after 0.3 s, window 4, rate 200, 50 idle connections,
                        push with 4 groups of 4 members, bursts of 3, 1 wave,
                        debounce 300 ms and max wait 1,500 ms, no profile;
                        options given with it still apply
  --help                show this help
`;

function positive(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new Error(`--${name} must be a positive number, got ${value}`);
  }
  return number;
}

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  const number = positive(name, value, fallback);
  if (!Number.isInteger(number)) {
    throw new Error(`--${name} must be a whole number, got ${value}`);
  }
  return number;
}

/** Parses the command line; throws an Error whose message names the invalid option. */
export function parseOptions(argv: string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rounds: { type: "string" },
      scenarios: { type: "string" },
      connections: { type: "string" },
      window: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rate: { type: "string" },
      idle: { type: "string" },
      generators: { type: "string" },
      "push-groups": { type: "string" },
      "push-members": { type: "string" },
      "push-offline": { type: "string" },
      "push-burst": { type: "string" },
      "push-waves": { type: "string" },
      profile: { type: "boolean" },
      "no-profile": { type: "boolean" },
      out: { type: "string" },
      "redis-url": { type: "string" },
      smoke: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return "help";
  const smoke = values.smoke === true;

  const scenarios = (values.scenarios ?? SCENARIOS.join(","))
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      throw new Error(
        `--scenarios: unknown scenario ${name}; expected some of ${SCENARIOS.join(", ")}`,
      );
    }
  }
  const connections = integer(
    "connections",
    values.connections,
    smoke ? 50 : 1000,
  );
  if (connections % 2 !== 0 || connections < 2) {
    throw new Error(
      `--connections must be even and at least 2, got ${connections}`,
    );
  }
  const offlineShare = Number(values["push-offline"] ?? 0.5);
  if (!(offlineShare > 0 && offlineShare < 1)) {
    throw new Error(
      `--push-offline must be between 0 and 1 (exclusive), got ${values["push-offline"]}`,
    );
  }
  const generators = integer("generators", values.generators, 1);
  if (generators > connections / 2) {
    throw new Error(
      `--generators must be at most --connections / 2, got ${generators}`,
    );
  }

  return {
    rounds: integer("rounds", values.rounds, smoke ? 1 : 3),
    scenarios: scenarios as ScenarioName[],
    connections,
    window: integer("window", values.window, smoke ? 4 : 16),
    durationMs: positive("duration", values.duration, smoke ? 1 : 10) * 1000,
    warmupMs: positive("warmup", values.warmup, smoke ? 0.3 : 2) * 1000,
    drainMs: smoke ? 5000 : 30_000,
    rate: integer("rate", values.rate, smoke ? 200 : 2000),
    idleConnections: integer("idle", values.idle, smoke ? 50 : 5000),
    memory: { settleMs: smoke ? 300 : 2000, samples: smoke ? 1 : 3 },
    generators,
    connectConcurrency: 100,
    textLength: 64,
    push: {
      groups: integer("push-groups", values["push-groups"], smoke ? 4 : 100),
      members: integer("push-members", values["push-members"], smoke ? 4 : 40),
      offlineShare,
      burstMessages: integer("push-burst", values["push-burst"], smoke ? 3 : 5),
      burstGapMs: 50,
      waves: integer("push-waves", values["push-waves"], smoke ? 1 : 3),
      debounceMs: smoke ? 300 : 1000,
      maxWaitMs: smoke ? 1500 : 5000,
    },
    profile: values["no-profile"] ? false : (values.profile ?? !smoke),
    outDir: values.out ?? (smoke ? "bench/results/smoke" : "bench/results"),
    redisUrl: values["redis-url"] ?? DEFAULT_REDIS_URL,
    smoke,
  };
}
