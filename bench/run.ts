/**
 * Benchmark of the chat server against bare Socket.IO relays, run on one
 * machine: `npm run bench -- --help` lists the options.
 *
 * Every scenario runs ours and the baseline back to back in fresh
 * processes, alternating which goes first from round to round, and the
 * table reports medians with min and max over the rounds. The runner
 * stops every process it started on exit, on errors and on Ctrl-C.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import type { SystemKind } from "./load/plans.js";
import { renderLatencyChart, type Panel } from "./lib/chart.js";
import { HELP, parseOptions, type BenchOptions } from "./lib/options.js";
import {
  killAllProcessesNow,
  REPO_ROOT,
  stopAllProcesses,
} from "./lib/processes.js";
import {
  assertLoopbackRedis,
  probeRedis,
  releaseAllPrefixes,
} from "./lib/redis.js";
import {
  buildRows,
  formatTable,
  targetChecks,
  type PerSystem,
  type RoundResult,
} from "./lib/report.js";
import { spread, CURVE_PERCENTILES } from "./lib/stats.js";
import {
  formatProfileSummary,
  readProfile,
  summariseProfile,
  type ProfileSummary,
} from "./profile-summary.js";
import { runChatScenario, type ChatRun } from "./scenarios/chat.js";
import { runMemoryScenario } from "./scenarios/memory.js";
import { runPushScenario } from "./scenarios/push.js";
import { buildServers } from "./lib/build.js";

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Returns the commit the bench ran on and the server files that differed from it. */
function describeRevision(): { commit: string; changedServerFiles: string[] } {
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .toString()
      .trim();
  try {
    return {
      commit: git(["rev-parse", "HEAD"]),
      changedServerFiles: git(["status", "--porcelain", "--", "server"])
        .split("\n")
        .filter(Boolean)
        .map((line) => line.slice(3)),
    };
  } catch {
    return { commit: "unknown", changedServerFiles: [] };
  }
}

function describeMachine(redisVersion: string | null) {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: redisVersion,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

function orderFor(round: number): SystemKind[] {
  return round % 2 === 1 ? ["ours", "relay"] : ["relay", "ours"];
}

function describeChat(run: ChatRun): string {
  const latency = run.latency
    ? `, p50 ${run.latency.p50.toFixed(2)} ms, p99 ${run.latency.p99.toFixed(2)} ms`
    : "";
  const cpu = run.serverCpu
    .map((share) => `${Math.round(share * 100)}%`)
    .join("+");
  return `${Math.round(run.deliveredPerSecond)} msg/s${latency}, lost ${run.counts.lost}, duplicated ${run.counts.duplicated}, CPU: server ${cpu}, generator ${Math.round(run.generatorCpu * 100)}%, other processes ${Math.round(run.otherCpu * 100)}%`;
}

/** Runs `task`, logs what it measured, and records a failure instead of stopping the bench. */
async function attempt<T>(
  label: string,
  errors: string[],
  task: () => Promise<T>,
  describe: (result: T) => string,
): Promise<T | null> {
  const started = Date.now();
  try {
    const result = await task();
    log(
      `  ${label}: ${describe(result)} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return result;
  } catch (error) {
    const message = `${label} failed: ${(error as Error).message}`;
    log(`  ${message}`);
    errors.push(message);
    return null;
  }
}

async function runRound(
  round: number,
  options: BenchOptions,
  redisAvailable: boolean,
): Promise<RoundResult> {
  const result: RoundResult = {
    round,
    throughput: {},
    latency: {},
    memory: {},
    redisThroughput: {},
    redisLatency: {},
    push: null,
    errors: [],
  };
  const selected = new Set(options.scenarios);
  const chat = async (
    target: PerSystem<ChatRun>,
    mode: "memory" | "redis",
    scenario: "throughput" | "latency",
  ) => {
    for (const system of orderFor(round)) {
      const run = await attempt(
        `${scenario} ${mode} ${system}`,
        result.errors,
        () => runChatScenario(system, mode, scenario, options),
        describeChat,
      );
      if (run) target[system] = run;
      // Sends that the server rejected with an error mean the run did not measure what it should.
      if (run && run.counts.rejected > 0) {
        result.errors.push(
          `${scenario} ${mode} ${system}: ${run.counts.rejected} sends were rejected (${run.counts.errors.join(", ")})`,
        );
      }
    }
  };
  if (selected.has("throughput"))
    await chat(result.throughput, "memory", "throughput");
  if (selected.has("latency")) await chat(result.latency, "memory", "latency");
  if (selected.has("memory")) {
    for (const system of orderFor(round)) {
      const run = await attempt(
        `memory ${system}`,
        result.errors,
        () => runMemoryScenario(system, options),
        (r) =>
          `${(r.rssPerConnectionBytes / 1024).toFixed(1)} KiB RSS and ${(r.heapPerConnectionBytes / 1024).toFixed(1)} KiB heap per connection, ramp ${(r.rampMs / 1000).toFixed(2)} s`,
      );
      if (run) result.memory[system] = run;
    }
  }
  if (selected.has("redis")) {
    if (redisAvailable) {
      await chat(result.redisThroughput, "redis", "throughput");
      await chat(result.redisLatency, "redis", "latency");
    } else {
      result.errors.push(
        `redis scenarios skipped: no Redis responded at ${options.redisUrl}`,
      );
    }
  }
  if (selected.has("push")) {
    result.push = await attempt(
      "push ours",
      result.errors,
      () => runPushScenario(options),
      (r) =>
        `${Math.round(r.decisionsPerSecond)} decisions/s, ${Math.round(r.pushesPerSecond)} push/s in ${Math.round(r.requestsPerSecond)} requests/s, lateness p50 ${r.latenessP50Ms} ms p99 ${r.latenessP99Ms} ms, ${r.pushes}/${r.expected} pushes, ${r.exactlyOnce} exactly once`,
    );
  }
  return result;
}

/** Median per percentile over the rounds, for one system and mode. */
function medianCurve(runs: ChatRun[]): { p: number; ms: number }[] {
  return CURVE_PERCENTILES.map((p) => ({
    p,
    ms: spread(
      runs.map(
        (run) =>
          run.latency?.curve.find((point) => point.p === p)?.ms ?? Number.NaN,
      ),
    ).median,
  }));
}

function chartPanels(rounds: RoundResult[]): Panel[] {
  const panels: Panel[] = [];
  const add = (
    title: string,
    pick: (round: RoundResult) => PerSystem<ChatRun>,
  ) => {
    const ours = rounds
      .map((round) => pick(round).ours)
      .filter((run): run is ChatRun => !!run);
    const relay = rounds
      .map((round) => pick(round).relay)
      .filter((run): run is ChatRun => !!run);
    if (ours.length === 0 && relay.length === 0) return;
    panels.push({
      title,
      series: [
        {
          label: "chat server",
          color: "#1f6fd1",
          dashed: false,
          points: medianCurve(ours),
        },
        {
          label: "bare Socket.IO relay",
          color: "#d1491f",
          dashed: true,
          points: medianCurve(relay),
        },
      ],
    });
  };
  add("memory mode, 1 node", (round) => round.latency);
  add("Redis mode, 2 nodes", (round) => round.redisLatency);
  return panels;
}

async function profileThroughput(
  options: BenchOptions,
): Promise<{ summary: ProfileSummary; file: string } | null> {
  const dir = resolve(REPO_ROOT, options.outDir, "profile");
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  log(
    "profile: chat server under the throughput scenario (memory mode) with --cpu-prof",
  );
  const run = await runChatScenario("ours", "memory", "throughput", options, {
    cpuProfileDir: dir,
  });
  log(`  throughput ours (profiled): ${describeChat(run)}`);

  // Node names profiles CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
  const written = readdirSync(dir).filter(
    (name) =>
      !before.has(name) &&
      /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name),
  );
  const file = written.sort().at(-1);
  if (!file)
    throw new Error(`no main-thread .cpuprofile was written to ${dir}`);

  const profileData = readProfile(join(dir, file));
  // Module loading at start-up and the shutdown are left out when the window lies within the profile.
  const inside =
    run.windowUs !== null &&
    run.windowUs.from >= profileData.startTime &&
    run.windowUs.to <= profileData.endTime;
  const summary = summariseProfile(
    profileData,
    25,
    inside ? run.windowUs : null,
  );
  return { summary, file: join(options.outDir, "profile", file) };
}

async function main(): Promise<number> {
  let options: BenchOptions | "help";
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    log(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  assertLoopbackRedis(options.redisUrl);
  const redisVersion = await probeRedis(options.redisUrl);
  if (!redisVersion && options.scenarios.includes("redis")) {
    log(
      `no Redis responded at ${options.redisUrl}; the Redis scenarios will be skipped`,
    );
  }
  const machine = describeMachine(redisVersion);
  const revision = describeRevision();
  const extraArgs = process.argv
    .slice(2)
    .filter((arg) => !(options.smoke && arg === "--smoke"));
  const command = `npm run ${options.smoke ? "bench:smoke" : "bench"}${extraArgs.length > 0 ? ` -- ${extraArgs.join(" ")}` : ""}`;
  const startedAt = new Date();
  log(
    `bench: ${options.rounds} round(s) of ${options.scenarios.join(", ")} on ${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverageAtStart.join(" ")}`,
  );

  log("building both servers with tsc");
  buildServers();

  const rounds: RoundResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds}`);
    rounds.push(await runRound(round, options, redisVersion !== null));
  }
  const errors = rounds.flatMap((round) => round.errors);

  let profile: { summary: ProfileSummary; file: string } | null = null;
  if (options.profile) {
    try {
      profile = await profileThroughput(options);
    } catch (error) {
      errors.push(`profile failed: ${(error as Error).message}`);
    }
  }

  const rows = buildRows(rounds);
  const table = formatTable(rows, options.rounds);
  const targets = targetChecks(rows);
  const outDir = resolve(REPO_ROOT, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const panels = chartPanels(rounds);
  if (panels.length > 0) {
    const svg = renderLatencyChart(
      `Latency at ${options.rate.toLocaleString("en-US")} messages/s, median of ${options.rounds} round(s) per percentile`,
      `${options.connections} connections, ${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, ${startedAt.toISOString().slice(0, 10)}`,
      panels,
    );
    writeFileSync(join(outDir, "latency-percentiles.svg"), svg);
  }
  const finishedAt = new Date();
  const results = {
    command,
    revision,
    machine: {
      ...machine,
      loadAverageAtEnd: loadavg().map((v) => Math.round(v * 100) / 100),
    },
    options,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    rows,
    targets,
    errors,
    profile,
    rounds,
  };
  writeFileSync(
    join(outDir, "results.json"),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  writeFileSync(join(outDir, "table.md"), `${table}\n`);
  if (profile) {
    writeFileSync(
      join(outDir, "profile-summary.txt"),
      `${formatProfileSummary(profile.summary)}\n`,
    );
  }

  const out: string[] = [
    "",
    `${command}: ${options.rounds} round(s), medians with (min–max); ratios are ours / baseline with the per-round range`,
    "",
    table,
    "",
    "Targets:",
    ...targets.map(
      (target) =>
        `- ${target.met === null ? "n/a" : target.met ? "met" : "NOT met"}: ${target.name} — ${target.measured}`,
    ),
  ];
  if (profile) {
    out.push(
      "",
      `CPU profile of the chat server (${profile.file}):`,
      formatProfileSummary(profile.summary),
    );
  }
  if (errors.length > 0)
    out.push("", "Errors:", ...errors.map((error) => `- ${error}`));
  out.push(
    "",
    `Results: ${join(options.outDir, "results.json")}${panels.length > 0 ? `, chart: ${join(options.outDir, "latency-percentiles.svg")}` : ""}`,
    `Took ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s.`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
  return errors.length > 0 ? 1 : 0;
}

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await stopAllProcesses();
    await releaseAllPrefixes().catch((error: unknown) =>
      log(
        `deleting the bench's Redis keys failed: ${(error as Error).message}`,
      ),
    );
  }
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping every process the bench started`);
    void shutdown(130);
  });
}
process.on("exit", killAllProcessesNow);

main().then(
  (code) => shutdown(code),
  (error: unknown) => {
    log(`bench failed: ${(error as Error).stack ?? String(error)}`);
    void shutdown(1);
  },
);
