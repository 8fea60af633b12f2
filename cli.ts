#!/usr/bin/env -S deno run -A
/**
 * The `dockwright` command line. Run it with `deno run -A cli.ts`, `bun cli.ts`,
 * or as the single executable made by `deno task compile`.
 *
 * @example
 * ```sh
 * deno run -A cli.ts build examples/hello/image.ts --format oci --out hello.oci --json
 * ```
 *
 * @module
 */

import process from "node:process";
import { runCli } from "./lib/cli/run_cli.ts";

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
