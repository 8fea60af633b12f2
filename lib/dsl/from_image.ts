/**
 * `fromImage`: the base of an image, given as an image archive or OCI layout
 * path, or as another image value (built first, in the same build).
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BaseImage, type ImageConfigJson, readImage } from "../transport/read_image.ts";
import { repoTag } from "../model/image.ts";
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

const loaded = new WeakMap<BuildContext, Map<string, Promise<BaseImage>>>();

/**
 * Loads the base image into the store (once per build and path).
 *
 * @example
 * ```ts
 * const base = await loadBaseImage(context, from);
 * ```
 */
export async function loadBaseImage(context: BuildContext, from: ResolvedFrom): Promise<BaseImage> {
  if (from.kind === "image") {
    const built = await context.resolveImage(from.image);
    const config = JSON.parse(new TextDecoder().decode(built.config.bytes)) as ImageConfigJson;
    return {
      config,
      configDigest: built.config.digest,
      layers: built.layers,
      repoTags: [repoTag(built)],
    };
  }
  let cache = loaded.get(context);
  if (!cache) loaded.set(context, cache = new Map());
  let pending = cache.get(from.path);
  if (!pending) {
    pending = readImage(context.store, from.path);
    cache.set(from.path, pending);
  }
  return await pending;
}
