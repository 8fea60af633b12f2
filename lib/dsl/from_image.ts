/**
 * `fromImage`: the base of an image, given as an image archive or OCI layout
 * path, or as another image value (built first, in the same build).
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readImage } from "../transport/read_image.ts";
import type { Image } from "../model/image.ts";
import { AttributeError } from "./errors.ts";
import { type BuildContext, type ImageDefinition, isImageDefinition } from "./image_definition.ts";

/** What `fromImage` accepts. */
export type FromImage = string | URL | ImageDefinition;

/** A checked `fromImage`. */
export type ResolvedFrom = { kind: "path"; path: string } | {
  kind: "image";
  image: ImageDefinition;
};

/**
 * Checks a `fromImage` value and resolves a relative path against `baseDir`.
 *
 * @example
 * ```ts
 * resolveFromImage("buildImage", "./base.tar", "/project"); // { kind: "path", path: "/project/base.tar" }
 * ```
 */
export function resolveFromImage(fn: string, value: unknown, baseDir: string): ResolvedFrom | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    if (value === "") throw new AttributeError(fn, "fromImage", "must not be an empty path");
    return { kind: "path", path: isAbsolute(value) ? value : resolve(baseDir, value) };
  }
  if (value instanceof URL) {
    if (value.protocol !== "file:") {
      throw new AttributeError(fn, "fromImage", `must be a file: URL (got ${value.protocol})`);
    }
    return { kind: "path", path: fileURLToPath(value) };
  }
  if (isImageDefinition(value)) return { kind: "image", image: value };
  throw new AttributeError(
    fn,
    "fromImage",
    "must be the path of an image archive or OCI layout, or an image value (buildImage(...), pullImage(...), ...)",
  );
}

/**
 * The base image, in the session's store: built (an image value) or read (a
 * path), once per session.
 *
 * @example
 * ```ts
 * import type { BuildContext } from "./image_definition.ts";
 *
 * declare const session: BuildContext;
 * const from = resolveFromImage("buildImage", "./base.tar", "/project")!;
 * const base = await loadBaseImage(session, from); // reads /project/base.tar
 * await loadBaseImage(session, from); // the same image, not read again
 * base.layers.map((l) => l.diffId); // bottom layer first
 * ```
 */
export async function loadBaseImage(session: BuildContext, from: ResolvedFrom): Promise<Image> {
  if (from.kind === "image") return await session.resolveImage(from.image);
  return await session.memo(`fromImage:${from.path}`, () => readImage(session.store, from.path));
}
