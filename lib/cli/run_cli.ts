/**
 * The `dockwright` command line: subcommand dispatch.
 *
 * @module
 */

import process from "node:process";
import { BUILD_HELP, buildImages, parseBuildFlags } from "./build_command.ts";
import { loadImageFile } from "./load_images.ts";
import { reportError } from "./report_error.ts";
import { UsageError } from "./usage_error.ts";

/** dockwright's version. */
export const VERSION = "0.1.0";

/** Top-level help. */
export const HELP =
  `dockwright ${VERSION}: nixpkgs dockerTools as a TypeScript DSL, for Deno and Bun.

Usage:
  dockwright build FILE [options]   build the images FILE exports (see: dockwright build --help)
  dockwright help [COMMAND]         show help
  dockwright --version

An image file can also be run directly: deno run -A image.ts [options], bun image.ts [options].
`;

/**
 * Runs the command line and returns the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(["build", "image.ts", "--json"]);
 * ```
 */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "-h":
      case "--help":
        process.stdout.write(rest[0] === "build" ? BUILD_HELP : HELP);
        return command === undefined ? 2 : 0;
      case "--version":
      case "-V":
      case "version":
        process.stdout.write(`dockwright ${VERSION}\n`);
        return 0;
      case "build": {
        const flags = parseBuildFlags(rest);
        if (flags.help) {
          process.stdout.write(BUILD_HELP);
          return 0;
        }
        if (flags.positionals.length !== 1) {
          throw new UsageError(
            "build takes exactly one image file",
            "dockwright build image.ts [--format oci] [--out PATH]",
          );
        }
        await buildImages(await loadImageFile(flags.positionals[0]), flags, flags.positionals[0]);
        return 0;
      }
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}`,
          "run `dockwright --help`",
        );
    }
  } catch (error) {
    return reportError(error);
  }
}
