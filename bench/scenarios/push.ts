import { randomBytes } from "node:crypto";
import {
  startOneSignalStandIn,
  type OneSignalStandIn,
  type RecordedRequest,
} from "../../test/support/onesignal-stand-in.js";
import type { BurstRecord, PushResult } from "../load/plans.js";
import { Generator } from "../lib/generators.js";
import {
  BENCH_JWT_SECRET,
  BENCH_SERVER_KEY,
  readNodeCpu,
  readPushDecisions,
  startNode,
  stopNodes,
  type ServerNode,
} from "../lib/nodes.js";
import { forEachLimited } from "../load/connections.js";
import type { BenchOptions } from "../lib/options.js";
import { percentile, sortedCopy, spread } from "../lib/stats.js";

/** Time in ms after the expected pushes of a wave arrived during which late extra pushes are still counted. */
const EXTRA_PUSH_WAIT_MS = 500;
/** Time in ms past the latest due time of a wave after which missing pushes count as missing. */
const WAVE_TIMEOUT_MS = 15_000;
/** Decision log reads in flight after a wave, one per recipient. */
const DECISION_READ_CONCURRENCY = 16;
/** Newest decisions read per recipient; a wave adds one. */
const DECISIONS_READ = 5;

export interface WaveResult {
  bursts: number;
  /** Pushes expected: one per offline recipient per burst. */
  expected: number;
  /** Pushes for the offline recipients that the stand-in accepted with status 200, one per recipient listed in include_aliases. */
  pushes: number;
  /** Requests of the wave that the stand-in accepted with status 200; one can carry pushes for many recipients. */
  requests: number;
  /** Decisions logged for the wave's bursts, one per recipient and burst when none is lost. */
  decisions: number;
  /** Bursts with exactly one push, for the burst's last message. */
  exactlyOnce: number;
  missing: number;
  /** Pushes beyond one per burst, or for a message that was not the burst's last. */
  extra: number;
  /** Requests the stand-in rejected (not 200). */
  rejected: number;
  /** Pushes per second from the earliest due time to the last push's arrival. */
  pushesPerSecond: number;
  /** Decisions per second from the earliest due time to the last decision's log time. */
  decisionsPerSecond: number;
  /** Accepted requests per second from the earliest due time to the last push's arrival. */
  requestsPerSecond: number;
  latenessMs: number[];
  /** Arrival after the due time that the server's createdAt of the burst's messages gives, so the time the server took to store them is left out. */
  serverLatenessMs: number[];
  /** Share of one core used from the earliest due time until the pushes arrived, by the server and by this process (the stand-in). */
  serverCpu: number;
  standInCpu: number;
  /**
   * Decisions per second of the server's CPU time in the wave: what one
   * core decides when due times do not limit it.
   */
  decisionsPerCpuSecond: number;
  /** Monotonic µs (process.hrtime) of the wave, to cut a CPU profile to it. */
  windowUs: { from: number; to: number };
}

export interface PushRun {
  waves: WaveResult[];
  /** Median over the waves of the decisions logged per second. */
  decisionsPerSecond: number;
  /** Median over the waves of WaveResult.decisionsPerCpuSecond. */
  decisionsPerCpuSecond: number;
  /** Median over the waves of the OneSignal requests accepted per second. */
  requestsPerSecond: number;
  /** Median over the waves of the pushes (recipients of accepted requests) per second. */
  pushesPerSecond: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  /** Percentiles of WaveResult.serverLatenessMs over all waves. */
  serverLatenessP50Ms: number;
  serverLatenessP99Ms: number;
  expected: number;
  pushes: number;
  exactlyOnce: number;
  missing: number;
  extra: number;
  rejected: number;
  /** Increase of chat_push_decisions_total over the run, by reason. */
  decisionsByReason: Record<string, number>;
  /** Live deliveries to the members viewing the conversations. */
  viewing: PushResult;
  debounceMs: number;
  maxWaitMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Expected {
  recipientId: string;
  conversationId: string;
  lastMessageId: string;
  dueAt: number;
  /** Due time from the server's createdAt of the burst's first and last message; NaN when unknown. */
  serverDueAt: number;
}

function pushData(request: RecordedRequest): Record<string, unknown> | null {
  const data = request.body?.data;
  return typeof data === "object" && data !== null
    ? (data as Record<string, unknown>)
    : null;
}

/** External ids a request targets; a coalesced request lists many. */
function recipientsOf(request: RecordedRequest): string[] {
  const aliases = request.body?.include_aliases as
    { external_id?: unknown } | undefined;
  return Array.isArray(aliases?.external_id)
    ? aliases.external_id.filter((id): id is string => typeof id === "string")
    : [];
}

interface LoggedDecision {
  at: string;
  topic: string;
  lastItemId: string;
}

/** Reads the log time in ms of each expected push's decision, NaN where none was logged. */
async function readDecisionTimes(
  node: ServerNode,
  expected: Expected[],
): Promise<number[]> {
  const times = new Array<number>(expected.length).fill(Number.NaN);
  await forEachLimited(
    expected.length,
    DECISION_READ_CONCURRENCY,
    async (index) => {
      const e = expected[index]!;
      const response = await fetch(
        `${node.url}/api/users/${encodeURIComponent(e.recipientId)}/push-decisions?limit=${DECISIONS_READ}`,
        { headers: { authorization: `Bearer ${BENCH_SERVER_KEY}` } },
      );
      if (!response.ok) {
        throw new Error(
          `push-decisions of ${e.recipientId} returned ${response.status}`,
        );
      }
      const { decisions } = (await response.json()) as {
        decisions: LoggedDecision[];
      };
      const match = decisions.find(
        (decision) =>
          decision.topic === e.conversationId &&
          decision.lastItemId === e.lastMessageId,
      );
      if (match) times[index] = Date.parse(match.at);
    },
  );
  return times;
}

/** Pushes due for a burst: the debounce after its last message, capped at the max wait after its first. */
function expectedPushes(
  bursts: BurstRecord[],
  options: BenchOptions,
): Expected[] {
  const { debounceMs, maxWaitMs } = options.push;
  return bursts.flatMap((burst) =>
    burst.offlineMemberIds.map((recipientId) => ({
      recipientId,
      conversationId: burst.conversationId,
      lastMessageId: burst.lastMessageId,
      dueAt: Math.min(
        burst.lastSendAt + debounceMs,
        burst.firstSendAt + maxWaitMs,
      ),
      serverDueAt: Math.min(
        burst.lastCreatedAt + debounceMs,
        burst.firstCreatedAt + maxWaitMs,
      ),
    })),
  );
}

function processCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function collectWave(
  standIn: OneSignalStandIn,
  node: ServerNode,
  firstRequest: number,
  expected: Expected[],
): Promise<WaveResult> {
  const key = (recipientId: unknown, conversationId: unknown) =>
    `${String(recipientId)}|${String(conversationId)}`;
  const wanted = new Set(
    expected.map((e) => key(e.recipientId, e.conversationId)),
  );
  // Counts pushes for wanted recipients as the stand-in responds, reading each request once.
  let scanned = firstRequest;
  let arrivedCount = 0;
  const arrived = () => {
    for (; scanned < standIn.requests.length; scanned++) {
      const request = standIn.requests[scanned]!;
      if (request.status === 0) break;
      const conversationId = pushData(request)?.conversation_id;
      for (const recipientId of recipientsOf(request)) {
        if (wanted.has(key(recipientId, conversationId))) arrivedCount++;
      }
    }
    return arrivedCount;
  };
  const firstDue = Math.min(...expected.map((e) => e.dueAt));
  const deadline = Math.max(...expected.map((e) => e.dueAt)) + WAVE_TIMEOUT_MS;
  await sleep(firstDue - Date.now());
  const windowFromUs = Number(process.hrtime.bigint() / 1000n);
  const cpuStart = {
    at: performance.now(),
    server: readNodeCpu(node),
    self: processCpuSeconds(),
  };
  while (arrived() < expected.length && Date.now() < deadline) await sleep(20);
  const windowUs = {
    from: windowFromUs,
    to: Number(process.hrtime.bigint() / 1000n),
  };
  const seconds = (performance.now() - cpuStart.at) / 1000;
  const serverCpu = (readNodeCpu(node) - cpuStart.server) / seconds;
  const standInCpu = (processCpuSeconds() - cpuStart.self) / seconds;
  await sleep(EXTRA_PUSH_WAIT_MS);

  const requests = standIn.requests.slice(firstRequest);
  const byKey = new Map<string, RecordedRequest[]>();
  let rejected = 0;
  let accepted = 0;
  for (const request of requests) {
    if (request.status !== 200) {
      rejected++;
      continue;
    }
    accepted++;
    const data = pushData(request);
    if (!data) continue;
    for (const recipientId of recipientsOf(request)) {
      const k = key(recipientId, data.conversation_id);
      const received = byKey.get(k);
      if (received) received.push(request);
      else byKey.set(k, [request]);
    }
  }
  const lateness: number[] = [];
  const serverLateness: number[] = [];
  let exactlyOnce = 0;
  let missing = 0;
  let extra = 0;
  let pushes = 0;
  let lastArrival = 0;
  for (const e of expected) {
    const received = byKey.get(key(e.recipientId, e.conversationId)) ?? [];
    pushes += received.length;
    if (received.length === 0) {
      missing++;
      continue;
    }
    const matching = received.filter(
      (request) => pushData(request)?.message_id === e.lastMessageId,
    );
    if (received.length === 1 && matching.length === 1) exactlyOnce++;
    extra += received.length - Math.min(1, matching.length);
    if (matching.length === 0) missing++;
    for (const request of received)
      lastArrival = Math.max(lastArrival, request.at);
    if (matching[0]) {
      lateness.push(matching[0].at - e.dueAt);
      if (!Number.isNaN(e.serverDueAt)) {
        serverLateness.push(matching[0].at - e.serverDueAt);
      }
    }
  }
  const decisionTimes = (await readDecisionTimes(node, expected)).filter(
    (at) => !Number.isNaN(at),
  );
  const lastDecision = Math.max(...decisionTimes);
  return {
    bursts: expected.length,
    expected: expected.length,
    pushes,
    requests: accepted,
    decisions: decisionTimes.length,
    exactlyOnce,
    missing,
    extra,
    rejected,
    pushesPerSecond:
      lastArrival > firstDue
        ? (pushes * 1000) / (lastArrival - firstDue)
        : Number.NaN,
    decisionsPerSecond:
      lastDecision > firstDue
        ? (decisionTimes.length * 1000) / (lastDecision - firstDue)
        : Number.NaN,
    requestsPerSecond:
      lastArrival > firstDue
        ? (accepted * 1000) / (lastArrival - firstDue)
        : Number.NaN,
    latenessMs: lateness,
    serverLatenessMs: serverLateness,
    serverCpu,
    standInCpu,
    decisionsPerCpuSecond:
      serverCpu > 0 ? decisionTimes.length / (serverCpu * seconds) : Number.NaN,
    windowUs,
  };
}

/**
 * Push scenario, chat server only, against a OneSignal stand-in in this
 * process. Each wave sends one burst from every group's sender at once, so
 * all of the wave's batches come due within a few milliseconds and the
 * server's push path, not the schedule, limits how fast they go out.
 */
export async function runPushScenario(
  options: BenchOptions,
  extra: { cpuProfileDir?: string } = {},
): Promise<PushRun> {
  const push = options.push;
  const offlineMembers = Math.max(
    1,
    Math.round(push.members * push.offlineShare),
  );
  const nodes: ServerNode[] = [];
  let generator: Generator | null = null;
  const standIn = await startOneSignalStandIn();
  try {
    const node = await startNode("ours", {
      cpuProfileDir: extra.cpuProfileDir,
      env: {
        ONESIGNAL_APP_ID: standIn.appId,
        ONESIGNAL_REST_API_KEY: standIn.apiKey,
        ONESIGNAL_API_URL: standIn.url,
        ONESIGNAL_RETRY_BASE_MS: "100",
        PUSH_DEBOUNCE_MS: String(push.debounceMs),
        PUSH_MAX_WAIT_MS: String(push.maxWaitMs),
        PUSH_MAX_PER_USER_PER_MINUTE: "100000",
        CONVERSATION_MAX_MEMBERS: String(push.members + 1),
      },
    });
    nodes.push(node);
    generator = Generator.start();
    await generator.setup({
      scenario: "push",
      target: { kind: "ours", urls: [node.url], jwtSecret: BENCH_JWT_SECRET },
      userPrefix: randomBytes(2).toString("hex"),
      connectConcurrency: options.connectConcurrency,
      connectTimeoutMs: 30_000,
      groups: { from: 0, to: push.groups },
      members: push.members,
      offlineMembers,
      burstMessages: push.burstMessages,
      burstGapMs: push.burstGapMs,
      textLength: options.textLength,
    });
    const decisionsBefore = await readPushDecisions(node);

    const waves: WaveResult[] = [];
    for (let wave = 0; wave < push.waves; wave++) {
      const firstRequest = standIn.requests.length;
      const bursts = await generator.burst(wave);
      waves.push(
        await collectWave(
          standIn,
          node,
          firstRequest,
          expectedPushes(bursts, options),
        ),
      );
    }
    const decisionsAfter = await readPushDecisions(node);
    const viewing = (await generator.finish())!;

    const decisionsByReason: Record<string, number> = {};
    for (const [reason, count] of Object.entries(decisionsAfter)) {
      const delta = count - (decisionsBefore[reason] ?? 0);
      if (delta > 0) decisionsByReason[reason] = delta;
    }
    const lateness = sortedCopy(waves.flatMap((wave) => wave.latenessMs));
    const serverLateness = sortedCopy(
      waves.flatMap((wave) => wave.serverLatenessMs),
    );
    const sum = (field: keyof WaveResult) =>
      waves.reduce((total, wave) => total + (wave[field] as number), 0);
    return {
      waves,
      decisionsPerSecond: spread(waves.map((wave) => wave.decisionsPerSecond))
        .median,
      decisionsPerCpuSecond: spread(
        waves.map((wave) => wave.decisionsPerCpuSecond),
      ).median,
      requestsPerSecond: spread(waves.map((wave) => wave.requestsPerSecond))
        .median,
      pushesPerSecond: spread(waves.map((wave) => wave.pushesPerSecond)).median,
      latenessP50Ms: percentile(lateness, 50),
      latenessP99Ms: percentile(lateness, 99),
      latenessMaxMs:
        lateness.length > 0 ? lateness[lateness.length - 1]! : Number.NaN,
      serverLatenessP50Ms: percentile(serverLateness, 50),
      serverLatenessP99Ms: percentile(serverLateness, 99),
      expected: sum("expected"),
      pushes: sum("pushes"),
      exactlyOnce: sum("exactlyOnce"),
      missing: sum("missing"),
      extra: sum("extra"),
      rejected: sum("rejected"),
      decisionsByReason,
      viewing,
      debounceMs: push.debounceMs,
      maxWaitMs: push.maxWaitMs,
    };
  } finally {
    await generator?.stop();
    await stopNodes(nodes);
    await standIn.close();
  }
}
