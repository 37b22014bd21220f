import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Root of the repository, from this file in bench/lib/. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Lines of a child's output kept to explain a failure. */
const TAIL_LINES = 40;
/** Time in ms a stopped process gets after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 15_000;

const running = new Set<ChildProcess>();

/**
 * Starts a child process that `stopAllProcesses` will end, and keeps the
 * tail of its output. Its stdout and stderr are read continuously, so a
 * child that writes a lot does not block on a full pipe.
 */
export function startProcess(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; ipc?: boolean },
): { child: ChildProcess; tail: string[] } {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: options.env,
    stdio: options.ipc
      ? ["ignore", "pipe", "pipe", "ipc"]
      : ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    });
  }
  return { child, tail };
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends SIGTERM, waits up to `graceMs` for the exit, then sends SIGKILL. */
export async function stopProcess(
  child: ChildProcess,
  graceMs = STOP_GRACE_MS,
): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => resolve()),
  );
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (isRunning(child)) child.kill("SIGKILL");
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every process this module started that is still running, all in parallel. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((child) => stopProcess(child, 5000)));
}

/** Sends SIGKILL to every process still running; for the process's exit handler. */
export function killAllProcessesNow(): void {
  for (const child of running) {
    if (isRunning(child)) child.kill("SIGKILL");
  }
}

/** Finds a free TCP port on 127.0.0.1. Another process could take it before it is used. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null)
    throw new Error("no free port found on 127.0.0.1");
  return address.port;
}

let clockTicks: number | null = null;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux when unknown). */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(
        execFileSync("getconf", ["CLK_TCK"]).toString().trim(),
      );
    } catch {
      clockTicks = 100;
    }
    if (!Number.isFinite(clockTicks) || clockTicks <= 0) clockTicks = 100;
  }
  return clockTicks;
}

/** Resident set size of a process in bytes, from VmRSS in /proc/<pid>/status. */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name in parentheses may contain spaces, so fields are counted after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** CPU time in seconds that all cores spent busy since boot, from the first line of /proc/stat. */
export function readMachineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return busy / ticksPerSecond();
}

/** Polls `url` until it responds with 200; fails when `child` exits first or after `timeoutMs`. */
export async function waitForHttp(
  url: string,
  child: ChildProcess,
  tail: string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(child)) {
      throw new Error(
        `process exited with ${child.exitCode ?? child.signalCode} before ${url} responded:\n${tail.join("\n")}`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${url} did not respond within ${timeoutMs} ms:\n${tail.join("\n")}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
