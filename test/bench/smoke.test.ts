import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The smoke run, build included, takes 40–50 s on two busy cores; this leaves room for a slow CI machine. */
const SMOKE_TIMEOUT_MS = 180_000;

interface SmokeRow {
  scenario: string;
  metric: string;
  ours: { median: number } | null;
  baseline: { median: number } | null;
}

interface SmokeRun {
  counts: {
    sent: number;
    acked: number;
    delivered: number;
    lost: number;
    duplicated: number;
  };
}

interface SmokeResults {
  rows: SmokeRow[];
  errors: string[];
  rounds: {
    throughput: Record<string, SmokeRun>;
    latency: Record<string, SmokeRun>;
    redisThroughput: Record<string, SmokeRun>;
    redisLatency: Record<string, SmokeRun>;
    push: {
      expected: number;
      exactlyOnce: number;
      viewing: { lost: number; duplicated: number };
    } | null;
  }[];
}

function runSmoke(
  outDir: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "bench/run.ts", "--smoke", "--out", outDir],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(
      () => child.kill("SIGINT"),
      SMOKE_TIMEOUT_MS - 10_000,
    );
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("bench smoke", () => {
  const outDir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it(
    "prints a table with throughput and no lost messages",
    async () => {
      const { code, stdout, stderr } = await runSmoke(outDir);
      expect(code, `bench exited with ${code}:\n${stderr}\n${stdout}`).toBe(0);
      expect(stdout).toContain("| Scenario");
      expect(stdout).toContain("throughput, memory, 1 node");
      expect(stdout).toContain("throughput, Redis, 2 nodes");

      const results = JSON.parse(
        readFileSync(join(outDir, "results.json"), "utf8"),
      ) as SmokeResults;
      expect(results.errors).toEqual([]);

      const delivered = results.rows.filter(
        (row) =>
          row.scenario.startsWith("throughput") && row.metric === "delivered",
      );
      expect(delivered).toHaveLength(2);
      for (const row of delivered) {
        expect(row.ours?.median, `${row.scenario} ours`).toBeGreaterThan(0);
        expect(
          row.baseline?.median,
          `${row.scenario} baseline`,
        ).toBeGreaterThan(0);
      }

      const [round] = results.rounds;
      for (const scenario of [
        "throughput",
        "latency",
        "redisThroughput",
        "redisLatency",
      ] as const) {
        for (const system of ["ours", "relay"]) {
          const run = round![scenario][system];
          expect(run, `${scenario} ${system} ran`).toBeDefined();
          expect(
            run!.counts.sent,
            `${scenario} ${system} sent`,
          ).toBeGreaterThan(0);
          expect(run!.counts.acked, `${scenario} ${system} acked`).toBe(
            run!.counts.sent,
          );
          expect(run!.counts.delivered, `${scenario} ${system} delivered`).toBe(
            run!.counts.acked,
          );
          expect(run!.counts.lost, `${scenario} ${system} lost`).toBe(0);
          expect(
            run!.counts.duplicated,
            `${scenario} ${system} duplicated`,
          ).toBe(0);
        }
      }
      const push = round!.push;
      expect(push, "push scenario ran").not.toBeNull();
      expect(push!.exactlyOnce, "one push per burst").toBe(push!.expected);
      expect(push!.viewing.lost, "push scenario lost").toBe(0);
      expect(push!.viewing.duplicated, "push scenario duplicated").toBe(0);
    },
    SMOKE_TIMEOUT_MS,
  );
});
