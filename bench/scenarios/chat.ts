import { randomBytes } from "node:crypto";
import type {
  ChatPlan,
  ChatResult,
  DeliveryCounts,
  SystemKind,
} from "../load/plans.js";
import { Generator } from "../lib/generators.js";
import {
  BENCH_JWT_SECRET,
  readNodeCpu,
  readPushDecisions,
  startNode,
  stopNodes,
  type ServerNode,
} from "../lib/nodes.js";
import type { BenchOptions } from "../lib/options.js";
import { readMachineBusySeconds } from "../lib/processes.js";
import { claimPrefix, releasePrefix } from "../lib/redis.js";
import { percentile, percentileCurve, sortedCopy } from "../lib/stats.js";

export type StoreMode = "memory" | "redis";

/**
 * Time in ms allowed for the last viewer acks to reach the server and for
 * its coalesced `suppressed_viewing` decisions (flushed within 1 s) to be
 * counted.
 */
const VIEWER_ACK_SETTLE_MS = 2000;
/** Lines of each node's output kept in the results. */
const NODE_OUTPUT_LINES = 5;

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  samples: number;
  curve: { p: number; ms: number }[];
}

export interface ChatRun {
  system: SystemKind;
  mode: StoreMode;
  scenario: "throughput" | "latency";
  /** Messages delivered per second within the measured window. */
  deliveredPerSecond: number;
  latency: LatencySummary | null;
  counts: DeliveryCounts;
  /** Share of one core each server node used in the measured window. */
  serverCpu: number[];
  /**
   * Share of one core used in the measured window by every process that is
   * not part of the run (neither a server node, a generator nor the runner):
   * the noise of a shared machine.
   */
  otherCpu: number;
  /** Share of one core the busiest generator used in the measured window. */
  generatorCpu: number;
  generatorLoopDelayP99Ms: number;
  connectMs: number;
  conversationsMs: number;
  /**
   * Chat server only: share of delivered messages whose viewing device acked
   * within PUSH_ACK_TIMEOUT_MS (decisions `suppressed_viewing`). The rest
   * were handed to the push batches although the recipient was looking.
   */
  viewerAckedShare: number | null;
  /** Last lines the server nodes wrote (warnings and errors; the relay also reports Redis reconnects). */
  nodeOutput: string[][];
  /** The measured window on the monotonic clock in µs, to cut a CPU profile to it. */
  windowUs: { from: number; to: number } | null;
}

/** Splits `connections` into one even range per generator, so each pair stays in one process. */
function userSlices(connections: number, generators: number) {
  const pairs = connections / 2;
  return Array.from({ length: generators }, (_, i) => ({
    from: 2 * Math.floor((i * pairs) / generators),
    to: 2 * Math.floor(((i + 1) * pairs) / generators),
  }));
}

export function summariseLatencies(values: number[]): LatencySummary | null {
  if (values.length === 0) return null;
  const sorted = sortedCopy(values);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1]!,
    samples: sorted.length,
    curve: percentileCurve(sorted),
  };
}

function addCounts(
  total: DeliveryCounts,
  next: DeliveryCounts,
): DeliveryCounts {
  return {
    sent: total.sent + next.sent,
    acked: total.acked + next.acked,
    failed: total.failed + next.failed,
    rejected: total.rejected + next.rejected,
    delivered: total.delivered + next.delivered,
    lost: total.lost + next.lost,
    duplicated: total.duplicated + next.duplicated,
    errors: [...total.errors, ...next.errors].slice(0, 5),
  };
}

/**
 * Runs the throughput or latency scenario once against fresh server
 * processes: one node in memory mode, two nodes sharing Redis (users
 * split across them) in Redis mode.
 */
export async function runChatScenario(
  system: SystemKind,
  mode: StoreMode,
  scenario: "throughput" | "latency",
  options: BenchOptions,
  extra: { cpuProfileDir?: string } = {},
): Promise<ChatRun> {
  const prefix = mode === "redis" ? claimPrefix(options.redisUrl) : null;
  const redis = prefix ? { url: options.redisUrl, prefix } : undefined;
  const nodes: ServerNode[] = [];
  const generators: Generator[] = [];
  const cpuAt: Record<
    string,
    {
      at: number;
      monotonicUs: number;
      cpu: number[];
      machine: number;
      runner: number;
    }
  > = {};
  // Samples CPU counters when the first generator starts and ends its measured window.
  const onMark = (name: string) => {
    const runner = process.cpuUsage();
    cpuAt[name] ??= {
      at: performance.now(),
      monotonicUs: Number(process.hrtime.bigint() / 1000n),
      cpu: nodes.map(readNodeCpu),
      machine: readMachineBusySeconds(),
      runner: (runner.user + runner.system) / 1e6,
    };
  };
  try {
    const slices = userSlices(options.connections, options.generators);
    // Generators load while the nodes start; they connect only once set up.
    for (let i = 0; i < slices.length; i++) {
      generators.push(Generator.start(i === 0 ? onMark : undefined));
    }
    const started = await Promise.all(
      Array.from({ length: mode === "redis" ? 2 : 1 }, () =>
        startNode(system, { redis, cpuProfileDir: extra.cpuProfileDir }),
      ),
    );
    nodes.push(...started);
    const userPrefix = `${randomBytes(2).toString("hex")}`;
    const plans: ChatPlan[] = slices.map((users) => ({
      scenario,
      target: {
        kind: system,
        urls: nodes.map((node) => node.url),
        jwtSecret: BENCH_JWT_SECRET,
      },
      userPrefix,
      connectConcurrency: options.connectConcurrency,
      connectTimeoutMs: 30_000,
      users,
      window: options.window,
      rate: (options.rate * (users.to - users.from)) / options.connections,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      drainMs: options.drainMs,
      textLength: options.textLength,
    }));
    const setups = await Promise.all(
      generators.map((generator, i) => generator.setup(plans[i]!)),
    );
    const results: ChatResult[] = await Promise.all(
      generators.map((generator) => generator.run()),
    );
    const counts = results.reduce<DeliveryCounts>(addCounts, {
      sent: 0,
      acked: 0,
      failed: 0,
      rejected: 0,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      errors: [],
    });
    let viewerAckedShare: number | null = null;
    if (system === "ours") {
      // Acks of the last deliveries may still be on their way to the server.
      await new Promise((resolve) => setTimeout(resolve, VIEWER_ACK_SETTLE_MS));
      const decisions = await Promise.all(nodes.map(readPushDecisions));
      const seen = decisions.reduce(
        (sum, byReason) => sum + (byReason.suppressed_viewing ?? 0),
        0,
      );
      viewerAckedShare = counts.delivered > 0 ? seen / counts.delivered : null;
    }
    await Promise.all(generators.map((generator) => generator.finish()));

    const start = cpuAt["measure-start"];
    const end = cpuAt["measure-end"];
    const wallSeconds = start && end ? (end.at - start.at) / 1000 : Number.NaN;
    const serverCpu = nodes.map((_, i) =>
      start && end ? (end.cpu[i]! - start.cpu[i]!) / wallSeconds : Number.NaN,
    );
    const generatorCpuSum = results.reduce((sum, r) => sum + r.cpuShare, 0);
    const otherCpu =
      start && end
        ? (end.machine - start.machine - (end.runner - start.runner)) /
            wallSeconds -
          serverCpu.reduce((a, b) => a + b, 0) -
          generatorCpuSum
        : Number.NaN;
    const measuredSeconds =
      Math.max(...results.map((r) => r.measuredMs)) / 1000;
    const delivered = results.reduce((sum, r) => sum + r.measuredDelivered, 0);
    return {
      system,
      mode,
      scenario,
      deliveredPerSecond: delivered / measuredSeconds,
      latency:
        scenario === "latency"
          ? summariseLatencies(results.flatMap((r) => r.latenciesMs))
          : null,
      counts,
      serverCpu,
      otherCpu: Math.max(0, otherCpu),
      generatorCpu: Math.max(...results.map((r) => r.cpuShare)),
      generatorLoopDelayP99Ms: Math.max(
        ...results.map((r) => r.loopDelayP99Ms),
      ),
      connectMs: Math.max(...setups.map((s) => s.connectMs)),
      conversationsMs: Math.max(...setups.map((s) => s.conversationsMs)),
      viewerAckedShare,
      nodeOutput: nodes.map((node) => node.tail.slice(-NODE_OUTPUT_LINES)),
      windowUs:
        start && end ? { from: start.monotonicUs, to: end.monotonicUs } : null,
    };
  } finally {
    await Promise.all(generators.map((generator) => generator.stop()));
    await stopNodes(nodes);
    if (prefix) await releasePrefix(prefix);
  }
}
