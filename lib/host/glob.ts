/**
 * File-name patterns for command-line arguments a shell did not expand
 * (`dockwright build 'services/*\/image.ts'`): `*` and `?` within one path
 * segment, `**` for any number of folders. Hidden entries and
 * `node_modules` are skipped, as shells and most tools do.
 *
 * @module
 */

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * True when `arg` has a pattern character.
 *
 * @example
 * ```ts
 * isGlob("services/*\/image.ts"); // true
 * isGlob("image.ts"); // false
 * ```
 */
export function isGlob(arg: string): boolean {
  return /[*?]/.test(arg);
}

function segmentRegExp(segment: string): RegExp {
  const body = segment.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(
    /\?/g,
    "[^/]",
  );
  return new RegExp(`^${body}$`);
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith(".") && n !== "node_modules").sort();
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return !statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The files matching `pattern`, sorted; relative patterns are taken from
 * `cwd`, and results keep the pattern's form (relative stays relative).
 *
 * @example
 * ```ts
 * expandGlob("examples/*\/image.ts"); // ["examples/closure-graph/image.ts", "examples/fakeroot/image.ts", ...]
 * ```
 */
export function expandGlob(pattern: string, cwd = "."): string[] {
  const absolute = pattern.startsWith("/");
  const segments = pattern.split("/").filter((s) => s !== "");
  const out = new Set<string>();
  const walk = (base: string, shown: string, i: number): void => {
    if (i === segments.length) {
      if (isFile(base)) out.add(shown);
      return;
    }
    const segment = segments[i];
    const join2 = (name: string) => (shown === "" ? name : `${shown}/${name}`);
    if (segment === "**") {
      walk(base, shown, i + 1);
      for (const name of entries(base)) {
        if (isDir(join(base, name))) walk(join(base, name), join2(name), i);
      }
      return;
    }
    if (!isGlob(segment)) {
      walk(join(base, segment), join2(segment), i + 1);
      return;
    }
    const re = segmentRegExp(segment);
    for (const name of entries(base)) if (re.test(name)) walk(join(base, name), join2(name), i + 1);
  };
  walk(absolute ? "/" : cwd, absolute ? "" : "", 0);
  return [...out].map((p) => (absolute ? `/${p}` : p)).sort();
}
