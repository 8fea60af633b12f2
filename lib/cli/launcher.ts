#!/usr/bin/env node
/**
 * The npm package's `dockwright` command (`npx dockwright`, `bunx dockwright`,
 * `node_modules/.bin/dockwright`). dockwright runs on Deno or Bun: run by one of
 * them, this file starts the command line in-process; run by Node (as `npx`
 * does), it hands over to Bun or Deno, whichever is found first on `PATH`
 * (`DOCKWRIGHT_RUNTIME=deno|bun` chooses), with the same arguments, and exits
 * with its exit code.
 *
 * @example
 * ```sh
 * npx dockwright build image.ts --format oci
 * DOCKWRIGHT_RUNTIME=deno npx dockwright build image.ts
 * ```
 *
 * @module
 */

import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The runtimes dockwright runs on, in the order they are looked for. */
export const RUNTIMES = ["bun", "deno"] as const;

/**
 * The executable of the first of `runtimes` on `PATH`, or undefined.
 *
 * @example
 * ```ts
 * findRuntime(["deno"]); // { runtime: "deno", path: "/usr/local/bin/deno" }
 * ```
 */
export function findRuntime(
  runtimes: readonly ("bun" | "deno")[],
  path = process.env.PATH ?? "",
): { runtime: "bun" | "deno"; path: string } | undefined {
  for (const runtime of runtimes) {
    for (const dir of path.split(delimiter)) {
      if (!dir) continue;
      const candidate = join(dir, runtime);
      try {
        accessSync(candidate, constants.X_OK);
        return { runtime, path: candidate };
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

async function launch(): Promise<void> {
  const args = process.argv.slice(2);
  if ("Deno" in globalThis || "Bun" in globalThis) {
    const { runCli } = await import("./run_cli.ts");
    process.exitCode = await runCli(args);
    return;
  }
  const wanted = process.env.DOCKWRIGHT_RUNTIME;
  if (wanted !== undefined && wanted !== "deno" && wanted !== "bun") {
    process.stderr.write(
      `error: DOCKWRIGHT_RUNTIME must be deno or bun (got ${JSON.stringify(wanted)})\n`,
    );
    process.exitCode = 2;
    return;
  }
  const found = findRuntime(wanted ? [wanted] : RUNTIMES);
  if (!found) {
    process.stderr.write(
      `error: dockwright runs on Bun or Deno, and ${
        wanted ?? "neither"
      } is on PATH: install one (npm install --save-dev bun, or deno), ` +
        "or use the single binary (dockwright-<os>-<arch>)\n",
    );
    process.exitCode = 1;
    return;
  }
  const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
  const argv = found.runtime === "deno" ? ["run", "-A", "--quiet", cli, ...args] : [cli, ...args];
  const child = spawn(found.path, argv, { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("error", (error) => {
    process.stderr.write(`error: cannot start ${found.path}: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1);
  });
}

if (import.meta.main ?? true) await launch();
