/**
 * `dockwright diff A B`: what differs between two images, with `diff`'s exit
 * codes: 0 the same, 1 different, 2 trouble (bad usage, an image that cannot
 * be read).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { diffImages } from "../../dsl/inspect.ts";
import { formatDiff } from "../../inspect/format.ts";
import { reportError } from "../report_error.ts";
import { flagError } from "../flags.ts";
import { UsageError } from "../usage_error.ts";
import { checkImageArgs, IMAGE_OPTIONS, openOptionsOf } from "./inspect.ts";

/** Help text of `diff`. */
export const DIFF_HELP =
  `Compare two images: layers shared and not; paths of their file systems added,
removed or changed (type, mode, owner, size, content, link target); store paths
added and removed; config differences.

Usage:
  dockwright diff A B [options]

A and B are anything dockwright inspect takes: archives, OCI layouts, registry
images, image files (image.ts#name), or - (standard input) for one of them.

Options:
      --json              the comparison as JSON on stdout
      --platform P        OS/ARCH[/VARIANT] of multi-platform images
      --cache-dir DIR     blob cache (default: $DOCKWRIGHT_CACHE_DIR, else
                          $XDG_CACHE_HOME/dockwright, else ~/.cache/dockwright)
      --creds USER:PASS   registry credentials
      --tls-verify=false  allow plain HTTP (and, under Bun, unverified TLS)
      --ca-file PATH      extra CA certificates (PEM) for registries
  -q, --quiet             no progress on stderr
  -h, --help              show this help

Exit codes, as diff's: 0 the same image (same config, same layers), 1 different,
2 trouble (bad usage, an image that cannot be read).
`;

/**
 * Runs `dockwright diff` with `argv` (the arguments after `diff`) and returns
 * the exit code: 0 same, 1 different, 2 trouble (reported on stderr here).
 *
 * @example
 * ```ts
 * process.exitCode = await diffCommand(["a.tar", "b.tar", "--json"]);
 * ```
 */
export async function diffCommand(argv: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, options: IMAGE_OPTIONS });
    } catch (error) {
      throw flagError(error, argv, "see dockwright diff --help");
    }
    const v = parsed.values;
    if (v.help) {
      process.stdout.write(DIFF_HELP);
      return 0;
    }
    if (parsed.positionals.length !== 2) {
      throw new UsageError(
        `diff takes exactly two images (got ${parsed.positionals.length})`,
        "dockwright diff a.tar b.tar [--json]",
      );
    }
    const [a, b] = parsed.positionals;
    checkImageArgs([a, b], "dockwright diff a.tar b.tar");
    const diff = await diffImages(a, b, openOptionsOf(v));
    process.stdout.write(v.json ? JSON.stringify(diff, null, 2) + "\n" : formatDiff(diff));
    return diff.same ? 0 : 1;
  } catch (error) {
    reportError(error);
    return 2;
  }
}
