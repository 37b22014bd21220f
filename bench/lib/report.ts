import type { SystemKind } from "../load/plans.js";
import type { ChatRun } from "../scenarios/chat.js";
import type { MemoryRun } from "../scenarios/memory.js";
import type { PushRun } from "../scenarios/push.js";
import { spread, type Spread } from "./stats.js";

type NumericPushField = {
  [K in keyof PushRun]: PushRun[K] extends number ? K : never;
}[keyof PushRun];

export type PerSystem<T> = Partial<Record<SystemKind, T>>;

/** Everything measured in one round; a scenario that failed or was not selected is absent. */
export interface RoundResult {
  round: number;
  throughput: PerSystem<ChatRun>;
  latency: PerSystem<ChatRun>;
  memory: PerSystem<MemoryRun>;
  redisThroughput: PerSystem<ChatRun>;
  redisLatency: PerSystem<ChatRun>;
  push: PushRun | null;
  errors: string[];
}

type Unit =
  | "msg/s"
  | "ms"
  | "KiB"
  | "s"
  | "%"
  | "count"
  | "push/s"
  | "decisions/s"
  | "requests/s";

export interface Row {
  scenario: string;
  metric: string;
  unit: Unit;
  ours: Spread | null;
  baseline: Spread | null;
  /** Median of ours divided by median of the baseline. */
  ratio: number | null;
  /** Min and max of the per-round ratios, rounds being paired runs. */
  roundRatios: Spread | null;
  /** Replaces the number cells, for counts such as lost / duplicated. */
  oursText?: string;
  baselineText?: string;
  target?: string;
  met?: boolean;
}

export interface TargetCheck {
  name: string;
  met: boolean | null;
  measured: string;
}

function values<T>(
  rounds: RoundResult[],
  pick: (round: RoundResult) => T | null | undefined,
): T[] {
  return rounds
    .map(pick)
    .filter((value): value is T => value !== null && value !== undefined);
}

function numberRow(
  rounds: RoundResult[],
  scenario: string,
  metric: string,
  unit: Unit,
  pick: (round: RoundResult, system: SystemKind) => number | undefined,
  withBaseline = true,
  withRatio = true,
): Row {
  const ours = values(rounds, (round) => pick(round, "ours"));
  const baseline = withBaseline
    ? values(rounds, (round) => pick(round, "relay"))
    : [];
  const oursSpread = ours.length > 0 ? spread(ours) : null;
  const baselineSpread = baseline.length > 0 ? spread(baseline) : null;
  // A ratio of a negative or zero value (memory growth within the noise) means nothing.
  const ratio =
    oursSpread &&
    baselineSpread &&
    oursSpread.median > 0 &&
    baselineSpread.median > 0
      ? oursSpread.median / baselineSpread.median
      : null;
  const paired = values(rounds, (round) => {
    const a = pick(round, "ours");
    const b = pick(round, "relay");
    return a !== undefined && b !== undefined && a > 0 && b > 0
      ? a / b
      : undefined;
  });
  return {
    scenario,
    metric,
    unit,
    ours: oursSpread,
    baseline: baselineSpread,
    ratio: withRatio ? ratio : null,
    roundRatios:
      withRatio && withBaseline && paired.length > 0 ? spread(paired) : null,
  };
}

function lossRow(
  rounds: RoundResult[],
  scenario: string,
  pick: (round: RoundResult, system: SystemKind) => ChatRun | undefined,
): Row {
  const total = (system: SystemKind) => {
    const runs = values(rounds, (round) => pick(round, system));
    if (runs.length === 0) return null;
    const lost = runs.reduce((sum, run) => sum + run.counts.lost, 0);
    const duplicated = runs.reduce(
      (sum, run) => sum + run.counts.duplicated,
      0,
    );
    const failed = runs.reduce((sum, run) => sum + run.counts.failed, 0);
    const sent = runs.reduce((sum, run) => sum + run.counts.sent, 0);
    return { lost, duplicated, failed, sent };
  };
  const ours = total("ours");
  const baseline = total("relay");
  const text = (t: ReturnType<typeof total>) =>
    t
      ? `${t.lost.toLocaleString("en-US")} / ${t.duplicated.toLocaleString("en-US")} of ${t.sent.toLocaleString("en-US")}${t.failed ? `, ${t.failed.toLocaleString("en-US")} not acked ok` : ""}`
      : "–";
  return {
    scenario,
    metric: "lost / duplicated (all rounds)",
    unit: "count",
    ours: null,
    baseline: null,
    ratio: null,
    roundRatios: null,
    oursText: text(ours),
    baselineText: text(baseline),
    target: "0 / 0",
    met: ours ? ours.lost === 0 && ours.duplicated === 0 : undefined,
  };
}

function viewerAckRow(
  rounds: RoundResult[],
  scenario: string,
  runsOf: (round: RoundResult) => PerSystem<ChatRun>,
): Row {
  return numberRow(
    rounds,
    scenario,
    "viewer acked in time",
    "%",
    (round, system) => {
      const share = runsOf(round)[system]?.viewerAckedShare;
      return share === null || share === undefined ? undefined : share * 100;
    },
    false,
  );
}

function withTarget(row: Row, target: string, met: boolean | undefined): Row {
  return { ...row, target, met };
}

const KIB = 1024;

/** Builds the table rows, medians with min and max over the rounds, and checks each target. */
export function buildRows(rounds: RoundResult[]): Row[] {
  const rows: Row[] = [];
  const chat = (
    label: string,
    throughputOf: (round: RoundResult) => PerSystem<ChatRun>,
    latencyOf: (round: RoundResult) => PerSystem<ChatRun>,
    targets: { throughput: number; p99: number },
  ) => {
    if (rounds.some((round) => Object.keys(throughputOf(round)).length > 0)) {
      const scenario = `throughput, ${label}`;
      const throughput = numberRow(
        rounds,
        scenario,
        "delivered",
        "msg/s",
        (round, system) => throughputOf(round)[system]?.deliveredPerSecond,
      );
      rows.push(
        withTarget(
          throughput,
          `≥ ${targets.throughput}× baseline`,
          throughput.ratio === null
            ? undefined
            : throughput.ratio >= targets.throughput,
        ),
      );
      rows.push(
        lossRow(
          rounds,
          scenario,
          (round, system) => throughputOf(round)[system],
        ),
      );
      rows.push(viewerAckRow(rounds, scenario, throughputOf));
      rows.push(
        numberRow(
          rounds,
          scenario,
          "server CPU (sum of nodes)",
          "%",
          (round, system) => {
            const run = throughputOf(round)[system];
            return run
              ? run.serverCpu.reduce((a, b) => a + b, 0) * 100
              : undefined;
          },
        ),
      );
      rows.push(
        numberRow(rounds, scenario, "generator CPU", "%", (round, system) => {
          const run = throughputOf(round)[system];
          return run ? run.generatorCpu * 100 : undefined;
        }),
      );
      rows.push(
        numberRow(
          rounds,
          scenario,
          "other processes' CPU",
          "%",
          (round, system) => {
            const run = throughputOf(round)[system];
            return run ? run.otherCpu * 100 : undefined;
          },
          true,
          false,
        ),
      );
    }
    if (rounds.some((round) => Object.keys(latencyOf(round)).length > 0)) {
      const scenario = `latency, ${label}`;
      for (const [metric, field] of [
        ["p50", "p50"],
        ["p95", "p95"],
        ["p99", "p99"],
        ["p99.9", "p999"],
      ] as const) {
        const row = numberRow(
          rounds,
          scenario,
          metric,
          "ms",
          (round, system) => {
            const latency = latencyOf(round)[system]?.latency;
            return latency ? latency[field] : undefined;
          },
        );
        if (metric === "p99") {
          rows.push(
            withTarget(
              row,
              targets.p99 === 1 ? "≤ baseline" : `≤ ${targets.p99}× baseline`,
              row.ratio === null ? undefined : row.ratio <= targets.p99,
            ),
          );
        } else {
          rows.push(row);
        }
      }
      rows.push(
        numberRow(
          rounds,
          scenario,
          "delivered",
          "msg/s",
          (round, system) => latencyOf(round)[system]?.deliveredPerSecond,
        ),
      );
      rows.push(
        lossRow(rounds, scenario, (round, system) => latencyOf(round)[system]),
      );
      rows.push(viewerAckRow(rounds, scenario, latencyOf));
      rows.push(
        numberRow(
          rounds,
          scenario,
          "other processes' CPU",
          "%",
          (round, system) => {
            const run = latencyOf(round)[system];
            return run ? run.otherCpu * 100 : undefined;
          },
          true,
          false,
        ),
      );
    }
  };

  chat(
    "memory, 1 node",
    (round) => round.throughput,
    (round) => round.latency,
    { throughput: 0.9, p99: 1.3 },
  );

  if (rounds.some((round) => Object.keys(round.memory).length > 0)) {
    const connections = values(
      rounds,
      (round) =>
        round.memory.ours?.connections ?? round.memory.relay?.connections,
    )[0];
    const scenario = `memory, ${connections?.toLocaleString("en-US") ?? "?"} idle connections`;
    const rss = numberRow(
      rounds,
      scenario,
      "RSS per connection",
      "KiB",
      (round, system) => {
        const run = round.memory[system];
        return run ? run.rssPerConnectionBytes / KIB : undefined;
      },
    );
    rows.push(
      withTarget(
        rss,
        "≤ 1.1× baseline",
        rss.ratio === null ? undefined : rss.ratio <= 1.1,
      ),
    );
    rows.push(
      numberRow(
        rounds,
        scenario,
        "heapUsed per connection",
        "KiB",
        (round, system) => {
          const run = round.memory[system];
          return run ? run.heapPerConnectionBytes / KIB : undefined;
        },
      ),
    );
    rows.push(
      numberRow(
        rounds,
        scenario,
        "ramp to all connected",
        "s",
        (round, system) => {
          const run = round.memory[system];
          return run ? run.rampMs / 1000 : undefined;
        },
      ),
    );
  }

  chat(
    "Redis, 2 nodes",
    (round) => round.redisThroughput,
    (round) => round.redisLatency,
    { throughput: 1, p99: 1 },
  );

  const pushRuns = values(rounds, (round) => round.push);
  if (pushRuns.length > 0) {
    const scenario = "push, offline recipients";
    /** Fields of PushRun shown as rows, with the target checked on the median where there is one. */
    const pushRows: {
      metric: string;
      unit: Unit;
      field: NumericPushField;
      target?: { text: string; met: (median: number) => boolean };
    }[] = [
      {
        metric: "push decisions (fire wave)",
        unit: "decisions/s",
        field: "decisionsPerSecond",
      },
      // The wave's due times spread over the time the server took to store
      // the bursts, so the capacity is taken per second of server CPU.
      {
        metric: "push decisions per second of server CPU",
        unit: "decisions/s",
        field: "decisionsPerCpuSecond",
        target: { text: "≥ 20,000/s", met: (median) => median >= 20_000 },
      },
      {
        metric: "pushes sent (fire wave)",
        unit: "push/s",
        field: "pushesPerSecond",
      },
      {
        metric: "OneSignal requests (fire wave)",
        unit: "requests/s",
        field: "requestsPerSecond",
      },
      { metric: "lateness p50", unit: "ms", field: "latenessP50Ms" },
      { metric: "lateness p99", unit: "ms", field: "latenessP99Ms" },
      {
        metric: "lateness after server createdAt p50",
        unit: "ms",
        field: "serverLatenessP50Ms",
      },
      // The deadline is the server's: debounce and max wait from the createdAt it stored.
      {
        metric: "lateness after server createdAt p99",
        unit: "ms",
        field: "serverLatenessP99Ms",
        target: { text: "≤ 250 ms", met: (median) => median <= 250 },
      },
    ];
    for (const { metric, unit, field, target } of pushRows) {
      const row = numberRow(
        rounds,
        scenario,
        metric,
        unit,
        (round, system) =>
          system === "ours" ? round.push?.[field] : undefined,
        false,
      );
      rows.push(
        target
          ? withTarget(
              row,
              target.text,
              row.ours ? target.met(row.ours.median) : undefined,
            )
          : row,
      );
    }
    for (const [metric, field] of [
      ["server CPU in the fire waves", "serverCpu"],
      ["stand-in CPU in the fire waves", "standInCpu"],
    ] as const) {
      rows.push(
        numberRow(
          rounds,
          scenario,
          metric,
          "%",
          (round, system) =>
            system === "ours" && round.push
              ? spread(round.push.waves.map((wave) => wave[field] * 100)).median
              : undefined,
          false,
        ),
      );
    }
    const count = (value: number) => value.toLocaleString("en-US");
    const expected = pushRuns.reduce((sum, run) => sum + run.expected, 0);
    const pushes = pushRuns.reduce((sum, run) => sum + run.pushes, 0);
    const exactlyOnce = pushRuns.reduce((sum, run) => sum + run.exactlyOnce, 0);
    const missing = pushRuns.reduce((sum, run) => sum + run.missing, 0);
    const extra = pushRuns.reduce((sum, run) => sum + run.extra, 0);
    rows.push({
      scenario,
      metric: "pushes / bursts × offline recipients (all rounds)",
      unit: "count",
      ours: null,
      baseline: null,
      ratio: null,
      roundRatios: null,
      oursText: `${count(pushes)} / ${count(expected)}, ${count(exactlyOnce)} exactly once, ${count(missing)} missing, ${count(extra)} extra`,
      baselineText: "–",
      target: "one per burst",
      met: exactlyOnce === expected && pushes === expected,
    });
    const lost = pushRuns.reduce((sum, run) => sum + run.viewing.lost, 0);
    const duplicated = pushRuns.reduce(
      (sum, run) => sum + run.viewing.duplicated,
      0,
    );
    const delivered = pushRuns.reduce(
      (sum, run) => sum + run.viewing.delivered,
      0,
    );
    rows.push({
      scenario,
      metric: "viewing members: lost / duplicated",
      unit: "count",
      ours: null,
      baseline: null,
      ratio: null,
      roundRatios: null,
      oursText: `${lost} / ${duplicated} of ${delivered.toLocaleString("en-US")} delivered`,
      baselineText: "–",
      target: "0 / 0",
      met: lost === 0 && duplicated === 0,
    });
  }
  return rows;
}

function formatNumber(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return "–";
  switch (unit) {
    case "msg/s":
    case "push/s":
    case "decisions/s":
    case "requests/s":
    case "count":
      return Math.round(value).toLocaleString("en-US");
    case "ms":
      return value < 10
        ? value.toFixed(2)
        : value < 100
          ? value.toFixed(1)
          : value.toFixed(0);
    case "KiB":
      return value.toFixed(1);
    case "s":
      return value.toFixed(2);
    case "%":
      return value.toFixed(0);
  }
}

function formatSpread(
  value: Spread | null,
  unit: Unit,
  rounds: number,
): string {
  if (!value) return "–";
  const median = formatNumber(value.median, unit);
  if (rounds <= 1 || value.min === value.max) return median;
  return `${median} (${formatNumber(value.min, unit)}–${formatNumber(value.max, unit)})`;
}

function formatRatio(row: Row): string {
  if (row.ratio === null) return "–";
  const ratio = `${row.ratio.toFixed(2)}×`;
  if (!row.roundRatios || row.roundRatios.min === row.roundRatios.max)
    return ratio;
  return `${ratio} (${row.roundRatios.min.toFixed(2)}–${row.roundRatios.max.toFixed(2)})`;
}

function resultText(met: boolean | undefined): string {
  if (met === undefined) return "";
  return met ? "met" : "not met";
}

/** Formats the rows as a Markdown table; numbers are medians with (min–max) over the rounds. */
export function formatTable(rows: Row[], rounds: number): string {
  const header = [
    "Scenario",
    "Metric",
    "Ours",
    "Baseline",
    "Ours / baseline",
    "Target",
    "Result",
  ];
  const lines = rows.map((row) => [
    row.scenario,
    `${row.metric}${row.unit === "count" ? "" : ` (${row.unit})`}`,
    row.oursText ?? formatSpread(row.ours, row.unit, rounds),
    row.baselineText ?? formatSpread(row.baseline, row.unit, rounds),
    formatRatio(row),
    row.target ?? "",
    resultText(row.met),
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => line[i]!.length)),
  );
  const format = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    format(header),
    `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`,
    ...lines.map(format),
  ].join("\n");
}

/** Lists every target with its result, for the summary under the table. */
export function targetChecks(rows: Row[]): TargetCheck[] {
  return rows
    .filter((row) => row.target)
    .map((row) => ({
      name: `${row.scenario}: ${row.metric} ${row.target}`,
      met: row.met ?? null,
      measured:
        row.oursText ??
        `${formatSpread(row.ours, row.unit, 2)} ${row.unit}${row.ratio === null ? "" : `, ratio ${formatRatio(row)}`}`,
    }));
}
