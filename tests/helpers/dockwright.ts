/**
 * Helpers for tests that run dockwright itself: the command line in a child
 * process under either runtime, and small fixtures.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { run, type RunResult } from "./tools.ts";

/** The repository root. */
export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** The command line entry. */
export const CLI = join(ROOT, "cli.ts");

/** The hello example. */
export const HELLO = join(ROOT, "examples", "hello", "image.ts");

/** Which runtime runs this test file. */
export const RUNTIME: "deno" | "bun" = "Deno" in globalThis ? "deno" : "bun";

/**
 * The argv prefix that runs a TypeScript file under `runtime`.
 *
 * @example
 * ```ts
 * runtimeCommand("bun"); // ["/repo/node_modules/.bin/bun"]
 * ```
 */
export function runtimeCommand(runtime: "deno" | "bun"): string[] {
  const local = join(ROOT, "node_modules", ".bin", runtime);
  const bin = runtime === RUNTIME ? process.execPath : existsSync(local) ? local : runtime;
  return runtime === "deno" ? [bin, "run", "-A"] : [bin];
}

/**
 * Runs a TypeScript file (the CLI or an image file) under `runtime` with `args`.
 *
 * @example
 * ```ts
 * const r = await runTs("deno", CLI, ["build", HELLO, "--json"], { cwd: dir });
 * ```
 */
export async function runTs(
  runtime: "deno" | "bun",
  file: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  const [cmd, ...pre] = runtimeCommand(runtime);
  return await run(cmd, [...pre, file, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, NO_COLOR: "1" },
    timeoutMs: 300_000,
  });
}

/**
 * Runs `dockwright build` with `--json` under `runtime` and parses the result.
 *
 * @example
 * ```ts
 * const result = await cliBuild("bun", HELLO, ["--format", "oci"], { cwd: dir, cacheDir });
 * ```
 */
export async function cliBuild(
  runtime: "deno" | "bun",
  imageFile: string,
  args: string[],
  opts: { cwd: string; cacheDir: string },
): Promise<Record<string, unknown>> {
  const r = await runTs(runtime, CLI, [
    "build",
    imageFile,
    "--json",
    "--cache-dir",
    opts.cacheDir,
    ...args,
  ], {
    cwd: opts.cwd,
  });
  if (r.code !== 0) throw new Error(`dockwright build failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}
