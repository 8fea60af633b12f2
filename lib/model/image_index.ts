/**
 * An image index (OCI index or Docker manifest list): one image per platform
 * under one name, and the index document written for it.
 *
 * @module
 */

import { DOCKER, OCI } from "./media_types.ts";
import type { JsonBlob } from "./manifest.ts";
import { jsonBlob } from "./manifest.ts";
import type { Descriptor } from "./descriptor.ts";
import type { Image } from "./image.ts";
import { type Platform, platformName } from "./platform.ts";

/**
 * Several images of one name, each for its platform.
 *
 * @example
 * ```ts
 * import type { Image } from "./image.ts";
 *
 * declare const amd64: Image;
 * declare const arm64: Image;
 * const index: ImageIndex = {
 *   manifests: [
 *     { image: amd64, platform: { os: "linux", architecture: "amd64" } },
 *     { image: arm64, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
 *   ],
 * };
 * ```
 */
export interface ImageIndex {
  /** The images, each with the platform it is for (one image per platform). */
  manifests: Array<{ image: Image; platform: Platform }>;
  /** Annotations of the index document. */
  annotations?: Record<string, string>;
}

/**
 * Refuses an index with two images for the same platform (a runtime could not choose).
 *
 * @example
 * ```ts
 * checkPlatformsDistinct([{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }]);
 * ```
 */
export function checkPlatformsDistinct(platforms: readonly Platform[]): void {
  const seen = new Set<string>();
  for (const p of platforms) {
    const key = platformName(p);
    if (seen.has(key)) {
      throw new TypeError(`two images are for ${key}; an index needs one image per platform`);
    }
    seen.add(key);
  }
}

/**
 * The index document naming `manifests`: an OCI image index, or with
 * `format: "docker"` a Docker manifest list.
 *
 * @example
 * ```ts
 * import type { Descriptor } from "./descriptor.ts";
 *
 * declare const manifests: Descriptor[];
 * indexDocument(manifests, "oci").mediaType; // "application/vnd.oci.image.index.v1+json"
 * indexDocument(manifests, "docker").mediaType; // "application/vnd.docker.distribution.manifest.list.v2+json"
 * ```
 */
export function indexDocument(
  manifests: readonly Descriptor[],
  format: "oci" | "docker",
  annotations?: Record<string, string>,
): JsonBlob {
  const mediaType = format === "docker" ? DOCKER.manifestList : OCI.index;
  return jsonBlob(
    {
      schemaVersion: 2,
      mediaType,
      manifests,
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    mediaType,
  );
}
