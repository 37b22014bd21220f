import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./processes.js";

/** Output folder of both compiled servers, inside the repository so that node_modules resolves. */
export const BUILD_DIR = join(REPO_ROOT, "dist", "bench");

/** Entry points of the compiled servers, relative to the repository. */
export const BUILT_ENTRY = {
  ours: join("dist", "bench", "server", "main.js"),
  relay: join("dist", "bench", "relay", "relay.js"),
} as const;

/**
 * Compiles the chat server (tsconfig.build.json, as the Docker image does)
 * and the relay baseline with tsc, so both run as plain JavaScript: no
 * TypeScript loader at start-up and no helper calls it adds to functions.
 */
export function buildServers(): void {
  const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const run = (args: string[]) =>
    execFileSync(process.execPath, [tsc, ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
  run(["-p", "tsconfig.build.json", "--outDir", join(BUILD_DIR, "server")]);
  run([
    "bench/baselines/relay.ts",
    "--outDir",
    join(BUILD_DIR, "relay"),
    "--target",
    "ES2022",
    "--module",
    "NodeNext",
    "--moduleResolution",
    "NodeNext",
    "--strict",
    "--skipLibCheck",
    "--types",
    "node",
  ]);
}
