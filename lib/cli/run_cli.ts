/**
 * The `dockwright` command line: subcommand dispatch.
 *
 * @module
 */

import process from "node:process";
import { BUILD_HELP, buildFiles, parseBuildFlags } from "./build_command.ts";
import { noteEntryPoint } from "./direct_run.ts";
import { INIT_HELP, initCommand } from "./init_command.ts";
import { DIFF_HELP, diffCommand } from "./commands/diff.ts";
import { INSPECT_HELP, inspectCommand } from "./commands/inspect.ts";
import { reportError } from "./report_error.ts";
import { UsageError } from "./usage_error.ts";

/** dockwright's version. */
export const VERSION = "0.1.0";

/** Top-level help. */
export const HELP =
  `dockwright ${VERSION}: nixpkgs dockerTools as a TypeScript DSL, for Deno and Bun.

Usage:
  dockwright build FILE... [options]  build the images the files export (see: dockwright build --help)
  dockwright init [DIR] [options]     write a starter image.ts (see: dockwright init --help)
  dockwright inspect SPEC [options]   what an image is made of: layers, store paths, sizes, waste
  dockwright diff A B [options]       what differs between two images (exit 0 same, 1 different)
  dockwright help [COMMAND]           show help
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
  noteEntryPoint();
  try {
    switch (command) {
      case undefined:
      case "help":
      case "-h":
      case "--help":
        process.stdout.write(
          rest[0] === "build"
            ? BUILD_HELP
            : rest[0] === "init"
            ? INIT_HELP
            : rest[0] === "inspect"
            ? INSPECT_HELP
            : rest[0] === "diff"
            ? DIFF_HELP
            : HELP,
        );
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
        await buildFiles(flags);
        return 0;
      }
      case "init":
        return initCommand(rest, VERSION);
      case "inspect":
        return await inspectCommand(rest);
      case "diff":
        return await diffCommand(rest);
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
