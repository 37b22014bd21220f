/**
 * Summarises a V8 .cpuprofile (as written by `node --cpu-prof`): self time
 * by function, by file and by package, largest first.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--window-us FROM:TO]
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./lib/processes.js";

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds since the previous sample. */
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  selfMs: number;
  /** Share of the profile's sampled time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Monotonic time window in µs the samples were taken from, or null for the whole profile. */
  windowUs: { from: number; to: number } | null;
  totalMs: number;
  /** Time in ms the process had nothing to run. */
  idleMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
  byPackage: SelfTime[];
}

/** Path of a script relative to the repository, or the URL itself for Node's own modules. */
function fileOf(url: string): string {
  if (!url.startsWith("file://")) return url;
  const path = fileURLToPath(url);
  // Packages are named from node_modules/ on, also when it is a link to another checkout.
  const modules = path.lastIndexOf("/node_modules/");
  if (modules >= 0) return path.slice(modules + 1);
  return relative(REPO_ROOT, path);
}

const COMPILED_SERVER = "dist/bench/server/";

/**
 * Groups a file into what a reader would change or blame: a folder of the
 * server (server/src/push), an npm package (socket.io), Node's internals,
 * or V8's pseudo-frames such as (garbage collector).
 */
function packageOf(file: string, functionName: string): string {
  if (file === "")
    return functionName.startsWith("(") ? functionName : "(native)";
  if (file.startsWith("node:")) return "node (internal)";
  const modules = file.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const parts = file.slice(modules + "node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  // The bench runs the server compiled to dist/bench/server/; it is grouped by its source folder.
  const compiled = file.startsWith(COMPILED_SERVER)
    ? `server/src/${file.slice(COMPILED_SERVER.length)}`
    : file;
  const parts = compiled.split("/");
  return parts.length > 3 ? parts.slice(0, 3).join("/") : compiled;
}

function ranked(
  totals: Map<string, number>,
  totalMs: number,
  top: number,
): SelfTime[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, selfMs]) => ({ name, selfMs, share: selfMs / totalMs }));
}

/**
 * Adds up self time per profile node: each sample's time is the delta to
 * the next sample, as Chrome DevTools counts it. With `windowUs`, only
 * samples taken within it count. Profile timestamps are V8's monotonic
 * clock in µs, which on Linux is CLOCK_MONOTONIC like
 * `process.hrtime.bigint()`, so another process on the machine can name
 * the window.
 */
export function summariseProfile(
  profile: CpuProfile,
  top = 20,
  windowUs: { from: number; to: number } | null = null,
): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  let timestamp = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    timestamp += profile.timeDeltas[i] ?? 0;
    if (windowUs && (timestamp < windowUs.from || timestamp > windowUs.to)) {
      continue;
    }
    const next = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + next / 1000);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of selfByNode) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    totalMs += ms;
    const file = fileOf(url);
    const name = functionName || "(anonymous)";
    // Files transpiled by tsx report every function on line 0, so no line is shown for them;
    // compiled files give the line in dist/.
    const where = file && lineNumber > 0 ? `${file}:${lineNumber + 1}` : file;
    const functionKey = where ? `${name} ${where}` : name;
    byFunction.set(functionKey, (byFunction.get(functionKey) ?? 0) + ms);
    const fileKey = file || name;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + ms);
    const pkg = packageOf(file, name);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  }
  return {
    windowUs,
    totalMs,
    idleMs,
    byFunction: ranked(byFunction, totalMs, top),
    byFile: ranked(byFile, totalMs, top),
    byPackage: ranked(byPackage, totalMs, top),
  };
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
}

/** Formats a summary as three plain-text tables. */
export function formatProfileSummary(summary: ProfileSummary): string {
  const scope = summary.windowUs
    ? `in the measured window of ${((summary.windowUs.to - summary.windowUs.from) / 1e6).toFixed(1)} s`
    : "over the whole profile";
  const lines: string[] = [
    `Busy ${summary.totalMs.toFixed(0)} ms and idle ${summary.idleMs.toFixed(0)} ms sampled ${scope}; self time and share of busy time:`,
  ];
  const table = (title: string, rows: SelfTime[]) => {
    lines.push("", title);
    for (const row of rows) {
      lines.push(
        `${(row.share * 100).toFixed(1).padStart(6)}%  ${row.selfMs.toFixed(0).padStart(7)} ms  ${row.name}`,
      );
    }
  };
  table("By package or server folder:", summary.byPackage);
  table("By file:", summary.byFile);
  table("By function:", summary.byFunction);
  return lines.join("\n");
}

const USAGE = `usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--window-us FROM:TO]
  --top N               rows per table (default 20)
  --window-us FROM:TO   only samples between these monotonic times in µs, as
                        stored in bench/results/results.json (profile.summary.windowUs)
`;

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: "string", default: "20" },
      "window-us": { type: "string" },
    },
  });
  const top = Number(values.top);
  const window = values["window-us"]?.split(":").map(Number);
  const file = positionals[0];
  if (
    !file ||
    !Number.isInteger(top) ||
    top <= 0 ||
    (window && (window.length !== 2 || window.some((n) => !Number.isFinite(n))))
  ) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const windowUs = window ? { from: window[0]!, to: window[1]! } : null;
  process.stdout.write(
    `${formatProfileSummary(summariseProfile(readProfile(file), top, windowUs))}\n`,
  );
}
