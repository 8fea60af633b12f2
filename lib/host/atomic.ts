/**
 * Atomic replacement of output files and folders.
 *
 * @module
 */

import { existsSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { discardTemp, releaseTemp, tempPathFor } from "./temp_files.ts";

/**
 * Produces `target` by letting `produce` write a temporary path beside it,
 * then renaming it into place. If `produce` throws, the temporary path is
 * removed and `target` is left as it was. The folder `target` goes in must
 * exist (see {@link checkOutputFolder}).
 *
 * @example
 * ```ts
 * import { writeFile } from "node:fs/promises";
 * await writeAtomically("/out/motd", async (tmp) => {
 *   await writeFile(tmp, "hi\n");
 * });
 * ```
 */
export async function writeAtomically(
  target: string,
  produce: (tempPath: string) => Promise<void> | void,
): Promise<void> {
  checkOutputFolder(target);
  const tmp = tempPathFor(target);
  try {
    await produce(tmp);
    if (existsSync(target)) {
      // A folder cannot be renamed over a non-empty folder: move the old one aside first.
      const old = tempPathFor(target);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
      releaseTemp(old);
    } else {
      renameSync(tmp, target);
    }
    releaseTemp(tmp);
  } catch (error) {
    discardTemp(tmp);
    throw error;
  }
}

/**
 * Throws a clear error when the folder an output goes in does not exist;
 * builders call it before any work, so a long build does not fail at the end.
 *
 * @example
 * ```ts
 * checkOutputFolder("/out/image.tar"); // throws unless /out is a folder
 * ```
 */
export function checkOutputFolder(target: string): void {
  const folder = dirname(target);
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(
      `cannot write ${target}: the folder ${folder} does not exist; create it or choose another output path`,
    );
  }
}

/**
 * Writes the file `target` with `bytes` through a temporary file beside it, so
 * a reader (or an interrupted write) never sees half of it.
 *
 * @example
 * ```ts
 * writeFileAtomicallySync("/cache/vm/kvm-probe-ab12", new TextEncoder().encode("tcg"));
 * ```
 */
export function writeFileAtomicallySync(target: string, bytes: Uint8Array): void {
  const tmp = tempPathFor(target);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, target);
    releaseTemp(tmp);
  } catch (error) {
    discardTemp(tmp);
    throw error;
  }
}
