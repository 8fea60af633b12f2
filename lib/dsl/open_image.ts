/**
 * `openImage`: any image dockwright can read, as one model value, with its
 * blobs in the cache. The spec may name a file or folder, a registry image,
 * or an export of an image file (`image.ts#name`), or be an image value.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { BuildSession } from "../build/session.ts";
import type { BlobSink } from "../cache/ingest_blob.ts";
import type { Image } from "../model/image.ts";
import type { Platform } from "../model/platform.ts";
import { openImageAt, parseImageSpec } from "../transport/open.ts";
import type { RegistryOptions } from "../transport/registry/client.ts";
import { isArtifact } from "./artifact.ts";
import { OptionError } from "./errors.ts";
import { type ImageDefinition, isImageDefinition } from "./image_definition.ts";
import { importImageFile } from "./image_file.ts";
import { isIndexDefinition } from "./image_index.ts";
import { hostArchitecture, platformName } from "../model/platform.ts";

/** Options of {@link openImage}. */
export interface OpenImageOptions extends RegistryOptions {
  /** Cache folder (blob store) the image's blobs go to. Default: as for `build`. */
  cacheDir?: string;
  /** Which image of a multi-platform index. Default: `linux` and the host's architecture. */
  platform?: Platform;
  /** Progress on stderr. Default: on when stderr is a terminal and CI is unset. */
  progress?: boolean;
  /** Open in this session (its cache, progress and already built images). */
  session?: BuildSession;
}

/** An image file path, optionally with `#export` (`image.ts#api`). */
const IMAGE_FILE = /^(.+\.(?:ts|mts|js|mjs))(?:#(.+))?$/;

/**
 * Opens the image `spec` names:
 * - a docker-archive (plain, gzip or zstd: Nix's, skopeo's, `docker save`'s,
 *   `podman save`'s or dockwright's), an OCI layout folder or an OCI archive,
 *   optionally with skopeo's prefixes (`docker-archive:`, `oci:PATH[:TAG]`,
 *   `oci-archive:`);
 * - a registry image (`docker://REF` or a plain `registry/repository[:tag|@digest]`);
 * - an export of an image file, `image.ts#name` (the default export without
 *   `#name`), which is built;
 * - an image value (`buildImage(...)` and friends), which is built.
 *
 * @example
 * ```ts
 * const image = await openImage("./hello.tar.gz");
 * image.layers.map((l) => l.diffId); // ["sha256:...", ...], bottom layer first
 * await openImage("docker://docker.io/library/debian:12", {
 *   platform: { os: "linux", architecture: "arm64" },
 * });
 * ```
 */
export async function openImage(
  spec: string | ImageDefinition,
  options: OpenImageOptions = {},
): Promise<Image> {
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress });
  return await openImageIn(session, spec, options);
}

/**
 * {@link openImage} in `session`, the blobs of a file, folder or registry
 * image given to `sink` (default: the session's store). Image files and
 * values are built, into the store.
 *
 * @example
 * ```ts
 * import { BuildSession } from "../build/session.ts";
 * const image = await openImageIn(BuildSession.open(), "./hello.tar.gz");
 * ```
 */
export async function openImageIn(
  session: BuildSession,
  spec: string | ImageDefinition,
  options: OpenImageOptions = {},
  sink?: BlobSink,
): Promise<Image> {
  if (isImageDefinition(spec)) return await session.resolveImage(spec);
  if (typeof spec !== "string") {
    throw new TypeError("openImage: give a path, an image reference, or an image value");
  }
  const file = IMAGE_FILE.exec(spec);
  if (file) {
    const path = isAbsolute(file[1]) ? file[1] : resolve(file[1]);
    const exports = await importImageFile(path);
    const wanted = file[2];
    const chosen = wanted === undefined
      ? exports[0]
      : exports.find((e) => e.exportName === wanted || e.image.name === wanted);
    if (!chosen) {
      throw new OptionError(
        `${file[1]} exports no image named ${JSON.stringify(wanted)}`,
        `exports: ${exports.map((e) => e.exportName).join(", ")}`,
      );
    }
    if (isArtifact(chosen.image)) {
      throw new OptionError(
        `${file[1]}#${chosen.exportName} is a ${chosen.image.builder} value, not an image`,
        "open the file it writes instead",
      );
    }
    if (isIndexDefinition(chosen.image)) {
      // An index: the image for the platform asked for (default: this machine's).
      const index = await chosen.image.resolveIndex(session);
      const want = options.platform ?? { os: "linux", architecture: hostArchitecture() };
      const entry = index.manifests.find((m) =>
        m.platform.os === want.os && m.platform.architecture === want.architecture &&
        (want.variant === undefined || m.platform.variant === want.variant)
      );
      if (!entry) {
        throw new OptionError(
          `${file[1]}#${chosen.exportName} has no image for ${platformName(want)}`,
          `it has: ${index.manifests.map((m) => platformName(m.platform)).join(", ")}`,
        );
      }
      return entry.image;
    }
    return await session.resolveImage(chosen.image);
  }
  return await openImageAt(session.store, parseImageSpec(spec), {
    ...options,
    progress: session.progress,
    sink,
  });
}
