/**
 * Atomic replacement of output files and folders.
 *
 * @module
 */

import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { discardTemp, releaseTemp, tempPathFor } from "./temp_files.ts";

/**
 * Produces `target` by letting `produce` write a temporary path beside it,
 * then renaming it into place. If `produce` throws, the temporary path is
 * removed and `target` is left as it was.
 *
 * @example
 * ```ts
 * await writeAtomically("/out/image.tar", async (tmp) => {
 *   await Deno.writeFile(tmp, bytes);
 * });
 * ```
 */
export async function writeAtomically(
  target: string,
  produce: (tempPath: string) => Promise<void> | void,
): Promise<void> {
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
 * Writes the file `target` with `bytes` through a temporary file beside it, so
 * a reader (or an interrupted write) never sees half of it.
 *
 * @example
 * ```ts
 * writeFileAtomicallySync("/cache/vm/initramfs-ab12.cpio", bytes);
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
