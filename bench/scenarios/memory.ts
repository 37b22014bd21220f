import { randomBytes } from "node:crypto";
import type { SystemKind } from "../load/plans.js";
import { Generator } from "../lib/generators.js";
import {
  BENCH_JWT_SECRET,
  readHeapUsedBytes,
  readNodeRss,
  startNode,
  stopNodes,
  type ServerNode,
} from "../lib/nodes.js";
import type { BenchOptions } from "../lib/options.js";
import { spread } from "../lib/stats.js";

/** Memory samples taken after each settle, `SAMPLE_INTERVAL_MS` apart; their median is used. */
const SAMPLE_INTERVAL_MS = 500;

export interface MemoryRun {
  system: SystemKind;
  connections: number;
  /** Time in ms from the first handshake to the last accepted one. */
  rampMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapBeforeBytes: number;
  heapAfterBytes: number;
  rssPerConnectionBytes: number;
  heapPerConnectionBytes: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function sampleMemory(
  node: ServerNode,
  samples: number,
): Promise<{ rss: number; heap: number }> {
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(SAMPLE_INTERVAL_MS);
    rss.push(readNodeRss(node));
    heap.push(await readHeapUsedBytes(node));
  }
  return { rss: spread(rss).median, heap: spread(heap).median };
}

/**
 * Memory scenario: `idleConnections` connections that only reply to
 * heartbeats. RSS comes from /proc/<pid>/status (VmRSS) and heapUsed from
 * the chat server's /metrics or the relay's /stats, each read before and
 * after the ramp.
 */
export async function runMemoryScenario(
  system: SystemKind,
  options: BenchOptions,
): Promise<MemoryRun> {
  const nodes: ServerNode[] = [];
  let generator: Generator | null = null;
  try {
    generator = Generator.start();
    const node = await startNode(system);
    nodes.push(node);
    await sleep(options.memory.settleMs);
    const before = await sampleMemory(node, options.memory.samples);

    const setup = await generator.setup({
      scenario: "idle",
      target: { kind: system, urls: [node.url], jwtSecret: BENCH_JWT_SECRET },
      userPrefix: randomBytes(2).toString("hex"),
      connectConcurrency: options.connectConcurrency,
      connectTimeoutMs: 60_000,
      users: { from: 0, to: options.idleConnections },
    });
    await sleep(options.memory.settleMs);
    const after = await sampleMemory(node, options.memory.samples);
    await generator.finish();

    const count = options.idleConnections;
    return {
      system,
      connections: count,
      rampMs: setup.connectMs,
      rssBeforeBytes: before.rss,
      rssAfterBytes: after.rss,
      heapBeforeBytes: before.heap,
      heapAfterBytes: after.heap,
      rssPerConnectionBytes: (after.rss - before.rss) / count,
      heapPerConnectionBytes: (after.heap - before.heap) / count,
    };
  } finally {
    await generator?.stop();
    await stopNodes(nodes);
  }
}
