/**
 * Temporary outputs that must disappear if the process is interrupted.
 *
 * Everything dockwright writes goes to a temporary path first and is renamed
 * into place only when complete. The paths in flight are tracked here so that
 * Ctrl-C (SIGINT) or SIGTERM removes them before the process exits: an
 * interrupted build leaves no half-written file behind.
 *
 * A process killed outright (`kill -9`, a crash) cannot clean up, so every
 * temporary name carries its owner: `.<name>.dockwright-<pid>-<host>-<random>`,
 * where `<host>` tells this machine and pid namespace from another sharing
 * the folder. The first temporary path a process makes in a folder (and
 * {@link sweepDeadTemps}) removes the temporary files there whose owner is
 * gone, so the next run leaves nothing behind.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readlinkSync, rmSync } from "node:fs";
import { hostname } from "node:os";
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

/** This machine and pid namespace, as 6 hex digits: a pid means this process only here. */
function hostTag(): string {
  let ns = "";
  try {
    ns = readlinkSync("/proc/self/ns/pid");
  } catch {
    // No /proc (macOS): the host name alone.
  }
  return createHash("sha256").update(`${hostname()}\0${ns}`).digest("hex").slice(0, 6);
}

let ownTag: string | undefined;
const TEMP_NAME = /^\..*\.dockwright-(\d+)-([0-9a-f]{6})-[0-9a-f]{8}$/;
const swept = new Set<string>();

/** True when process `pid` exists (a zombie counts; a pid we may not signal counts too). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Removes the temporary files and folders in `dir` whose owner process is
 * gone (killed with `kill -9`, crashed): only names this module makes, with
 * this machine's tag, and a pid that no longer runs. Returns what it removed.
 *
 * @example
 * ```ts
 * sweepDeadTemps("/home/me/.cache/dockwright/tmp"); // e.g. [".blob.dockwright-4242-a1b2c3-1a2b3c4d"]
 * ```
 */
export function sweepDeadTemps(dir: string): string[] {
  ownTag ??= hostTag();
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || m[2] !== ownTag) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    try {
      removeTree(join(dir, name));
      removed.push(name);
    } catch {
      // Another process may be removing it too.
    }
  }
  return removed;
}

/**
 * A fresh temporary path beside `target` (same directory, so a rename is atomic),
 * removed automatically on SIGINT/SIGTERM until {@link releaseTemp} is called.
 * Its name carries this process's pid, so the next run removes it if this
 * process is killed; the first call for a folder removes such leftovers there.
 *
 * @example
 * ```ts
 * const tmp = tempPathFor("/out/image.tar"); // "/out/.image.tar.dockwright-4242-a1b2c3-1a2b3c4d"
 * ```
 */
export function tempPathFor(target: string): string {
  installHandlers();
  const dir = dirname(target);
  if (!swept.has(dir)) sweepDeadTemps(dir);
  ownTag ??= hostTag();
  const path = join(
    dir,
    `.${basename(target)}.dockwright-${process.pid}-${ownTag}-${randomBytes(4).toString("hex")}`,
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
