/**
 * Checks of command-line flags that several commands share: `parseArgs`
 * errors as one-line usage errors, whole-number flags, `--cache-dir`.
 *
 * @module
 */

import { mkdirSync, statSync } from "node:fs";
import { UsageError } from "./usage_error.ts";

/**
 * A `parseArgs` error (Node's, Deno's or Bun's, several lines long) as a
 * one-line {@link UsageError} that names the flag: `unknown option --bogus`,
 * `--top needs a value`, `--json takes no value`.
 *
 * @param error what `parseArgs` threw
 * @param args the arguments given to `parseArgs`
 * @param hint what to read or run instead, e.g. "see dockwright inspect --help"
 *
 * @example
 * ```ts
 * import { parseArgs } from "node:util";
 * const args = ["--bogus"];
 * try {
 *   parseArgs({ args, options: {} });
 * } catch (error) {
 *   throw flagError(error, args, "see dockwright inspect --help"); // unknown option --bogus
 * }
 * ```
 */
export function flagError(error: unknown, args: readonly string[], hint: string): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const unknown = /^Unknown option '(.*?)'(?:\.|$)/.exec(message);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || unknown) {
    // Bun names an unknown letter of `-qx` without its dash.
    const name = unknown?.[1] ?? "";
    return new UsageError(`unknown option ${name.startsWith("-") ? name : `-${name}`}`, hint);
  }
  // "Option '-j, --jobs <value>' argument missing", "Option '--top' argument is ambiguous. ...".
  const option = /^Option '(?:-(\w), )?(--?[^' ]+)/.exec(message);
  const flag = option?.[2];
  if (flag && /argument missing/.test(message)) {
    return new UsageError(`${flag} needs a value`, hint);
  }
  if (flag && /ambiguous/.test(message)) {
    const short = option?.[1];
    const at = args.findIndex((a) =>
      a === flag || (short !== undefined && /^-[^-]/.test(a) && a.endsWith(short))
    );
    const next = at >= 0 ? args[at + 1] : undefined;
    return new UsageError(
      `${flag} needs a value${next === undefined ? "" : `, but is followed by ${next}`}`,
      `a value that starts with "-" is written ${flag}=VALUE; ${hint}`,
    );
  }
  if (flag && /does not take an argument/.test(message)) {
    return new UsageError(`${flag} takes no value`, `give ${flag} alone; ${hint}`);
  }
  return new UsageError(message.split("\n")[0].replace(/\.$/, ""), hint);
}

/**
 * The value of a whole-number flag: plain decimal digits only (`1e3`,
 * `0x10`, `-1`, `2.0` and an empty value are usage errors), at least `min`.
 * Returns `fallback` when the flag was not given.
 *
 * @example
 * ```ts
 * wholeNumber("20", "--top", 10); // 20
 * wholeNumber(undefined, "--top", 10); // 10
 * wholeNumber("1e3", "--top", 10); // throws UsageError
 * ```
 */
export function wholeNumber(
  value: string | undefined,
  flag: string,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `${flag} takes a whole number in digits${min > 0 ? `, ${min} or more` : ""} (got ${
        JSON.stringify(value)
      })`,
      `e.g. ${flag.split("/").pop()} ${Math.max(min, fallback)}`,
    );
  }
  return n;
}

/**
 * Checks `--cache-dir DIR` before a cache is opened: DIR is created when
 * missing; a file there, or a folder that cannot be created, is a one-line
 * usage error (not an `ENOTDIR` from deep inside the cache). Returns DIR.
 *
 * @example
 * ```ts
 * checkCacheDir("/tmp/dockwright-cache"); // "/tmp/dockwright-cache", now a folder
 * ```
 */
export function checkCacheDir(dir: string): string {
  const hint = "give a folder (it is created if missing)";
  if (dir === "") throw new UsageError(`--cache-dir is empty; ${hint}`);
  const stat = statOrUndefined(dir);
  if (stat?.isDirectory()) return dir;
  if (stat) throw new UsageError(`--cache-dir ${dir} is a file, not a folder; ${hint}`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = code === "ENOTDIR" || code === "EEXIST"
      ? "a part of its path is a file"
      : code === "EACCES" || code === "EPERM"
      ? "permission denied"
      : code === "EROFS"
      ? "read-only file system"
      : String((error as Error).message ?? error).split("\n")[0];
    throw new UsageError(`--cache-dir ${dir} cannot be created (${reason}); ${hint}`);
  }
  return dir;
}

/** What {@link statOrUndefined} tells of a path: which file it is, and whether it is a folder. */
export interface FileIdentity {
  /** Device number. */
  dev: number;
  /** Inode number. */
  ino: number;
  /** True for a folder. */
  isDirectory(): boolean;
}

/**
 * `statSync` that gives undefined for a path that does not exist, including
 * one below a file (`note.txt/sub`, ENOTDIR).
 *
 * @example
 * ```ts
 * statOrUndefined("note.txt/sub"); // undefined
 * ```
 */
export function statOrUndefined(path: string): FileIdentity | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOTDIR" || code === "ENOENT" || code === "ENAMETOOLONG") return undefined;
    throw error;
  }
}
