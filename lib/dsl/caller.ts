/**
 * Finds the folder of the module that called a builder, so relative source
 * paths in `image.ts` mean what they mean in a `.nix` file: relative to the
 * file that wrote them, not to the shell's working directory.
 *
 * @module
 */

import { dirname } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const LIB_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const FRAME = /(?:\(|@|at )((?:file:\/\/)?\/[^\s():]+):\d+:\d+\)?\s*$/;

/**
 * The folder of the first stack frame outside dockwright's `lib/` and `mod.ts`,
 * or the working directory when the stack tells nothing.
 *
 * @example
 * ```ts
 * // In /home/me/project/examples/hello/image.ts:
 * callerDirectory(); // "/home/me/project/examples/hello"
 * ```
 */
export function callerDirectory(): string {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    const file = m[1].startsWith("file://") ? fileURLToPath(m[1]) : m[1];
    if (file.startsWith(LIB_DIR + "/")) continue;
    if (file === dirname(LIB_DIR) + "/mod.ts") continue;
    return dirname(file);
  }
  return process.cwd();
}
