/**
 * Sources of image contents (`copyToRoot`, `contents`): host paths (relative
 * paths are resolved from the image file's folder, like paths in a `.nix`
 * file), `file:` URLs, and generated trees.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GeneratedTree } from "../tree/generated_tree.ts";
import type { ResolvedSource } from "../tree/sources.ts";
import { AttributeError } from "./errors.ts";

/**
 * One source of files: a host path (string or `file:` URL) or a generated tree.
 *
 * @example
 * ```ts
 * import { writeTextDir } from "../../mod.ts";
 *
 * const sources: Source[] = [
 *   "./rootfs", // relative to the image file's folder
 *   new URL("./etc", import.meta.url),
 *   writeTextDir("etc/motd", "hi\n"),
 * ];
 * ```
 */
export type Source = string | URL | GeneratedTree | SourceList;

/** Several sources under one name (`symlinkJoin`, `buildEnv`). */
export interface SourceList {
  /** The list's name (Nix's derivation name). */
  readonly name: string;
  /** The sources as given; lists may nest. */
  readonly paths: readonly unknown[];
  /** The sources in order, nested lists flattened. */
  flatten(): Source[];
}

/**
 * Checks that `value` is a source or a list of sources and resolves host paths
 * against `baseDir`.
 *
 * @example
 * ```ts
 * resolveSources("buildImage", "copyToRoot", ["./rootfs"], "/project");
 * // [{ kind: "host", path: "/project/rootfs" }]
 * ```
 */
export function resolveSources(
  fn: string,
  attr: string,
  value: unknown,
  baseDir: string,
): ResolvedSource[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((item, i): ResolvedSource | ResolvedSource[] => {
    const where = Array.isArray(value) ? `${attr}[${i}]` : attr;
    if (typeof item === "string") {
      if (item === "") throw new AttributeError(fn, where, "must not be an empty path");
      return { kind: "host", path: isAbsolute(item) ? item : resolve(baseDir, item) };
    }
    if (item instanceof URL) {
      if (item.protocol !== "file:") {
        throw new AttributeError(fn, where, `must be a file: URL (got ${item.protocol})`);
      }
      return { kind: "host", path: fileURLToPath(item) };
    }
    if (item instanceof GeneratedTree) return { kind: "generated", tree: item };
    if (isSourceGroup(item)) return resolveSources(fn, where, item.flatten(), baseDir);
    throw new AttributeError(
      fn,
      where,
      "must be a path (string or file: URL) or a generated tree such as writeTextDir(...), or a list of them",
    );
  });
}

/** A `symlinkJoin`/`buildEnv` value (checked by shape, to avoid an import cycle). */
function isSourceGroup(value: unknown): value is { flatten(): unknown[] } {
  return typeof value === "object" && value !== null &&
    typeof (value as { flatten?: unknown }).flatten === "function" &&
    Array.isArray((value as { paths?: unknown }).paths);
}
