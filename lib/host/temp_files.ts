/**
 * Temporary outputs that must disappear if the process is interrupted.
 *
 * Everything dockwright writes goes to a temporary path first and is renamed
 * into place only when complete. The paths in flight are tracked here so that
 * Ctrl-C (SIGINT) or SIGTERM removes them before the process exits: an
 * interrupted build leaves no half-written file behind.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";

const inFlight = new Set<string>();
let handlersInstalled = false;

/**
 * Removes `path` (file or folder, recursively), even where modes forbid it:
 * a script may leave 0555 folders with children, which only a `chmod` first
 * lets a non-root user delete.
 *
 * @example
 * ```ts
 * removeTree("/tmp/run/rootfs");
 * ```
 */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    spawnSync("chmod", ["-R", "u+rwX", path]);
    rmSync(path, { recursive: true, force: true });
  }
}

function removeAll(): void {
  for (const path of inFlight) {
    try {
      removeTree(path);
    } catch {
      // Best effort while exiting.
    }
  }
  inFlight.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      removeAll();
      process.exit(code);
    });
  }
}

/**
 * A fresh temporary path beside `target` (same directory, so a rename is atomic),
 * removed automatically on SIGINT/SIGTERM until {@link releaseTemp} is called.
 *
 * @example
 * ```ts
 * const tmp = tempPathFor("/out/image.tar"); // "/out/.image.tar.dockwright-1a2b3c4d"
 * ```
 */
export function tempPathFor(target: string): string {
  installHandlers();
  const path = join(
    dirname(target),
    `.${basename(target)}.dockwright-${randomBytes(4).toString("hex")}`,
  );
  inFlight.add(path);
  return path;
}

/**
 * Stops tracking `path` (it was renamed into place or removed).
 *
 * @example
 * ```ts
 * import { renameSync, writeFileSync } from "node:fs";
 * const tmp = tempPathFor("/out/motd");
 * writeFileSync(tmp, "hi\n");
 * renameSync(tmp, "/out/motd");
 * releaseTemp(tmp);
 * ```
 */
export function releaseTemp(path: string): void {
  inFlight.delete(path);
}

/**
 * Removes `path` (file or folder) and stops tracking it.
 *
 * @example
 * ```ts
 * import { writeFileSync } from "node:fs";
 * const tmp = tempPathFor("/out/motd");
 * try { writeFileSync(tmp, "hi\n"); } catch (e) { discardTemp(tmp); throw e; }
 * ```
 */
export function discardTemp(path: string): void {
  try {
    removeTree(path);
  } finally {
    inFlight.delete(path);
  }
}
