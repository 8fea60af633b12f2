/**
 * Image manifests (OCI and Docker schema 2) as canonical JSON bytes.
 *
 * @module
 */

import { type Digest, digestOf } from "../codec/sha256.ts";
import type { EncodedImage } from "./image.ts";
import { DOCKER, OCI } from "./media_types.ts";

/** A JSON document with its digest. */
export interface JsonBlob {
  bytes: Uint8Array;
  digest: Digest;
  size: number;
  mediaType: string;
}

const encoder = new TextEncoder();

/**
 * Serialises `value` compactly and names it by its digest.
 *
 * @example
 * ```ts
 * const blob = jsonBlob({ a: 1 }, "application/json");
 * blob.size; // 7, the bytes of '{"a":1}'
 * blob.digest; // "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
 * ```
 */
export function jsonBlob(value: unknown, mediaType: string): JsonBlob {
  const bytes = encoder.encode(JSON.stringify(value));
  return { bytes, digest: digestOf(bytes), size: bytes.length, mediaType };
}

/**
 * The OCI image manifest of `image`, with layer media types from each layer's encoding.
 *
 * @example
 * ```ts
 * import type { EncodedImage } from "./image.ts";
 * declare const image: EncodedImage;
 * const m = ociManifest(image); // m.digest is what `--json` reports as manifestDigest
 * ```
 */
export function ociManifest(image: EncodedImage): JsonBlob {
  return manifestOf(image, OCI);
}

/** The manifest of `image` in one family of media types (both have the same shape). */
function manifestOf(image: EncodedImage, types: typeof OCI | typeof DOCKER): JsonBlob {
  return jsonBlob(
    {
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((l) => ({
        mediaType: types.layer[l.encoding],
        digest: l.digest,
        size: l.size,
      })),
    },
    types.manifest,
  );
}

/**
 * The Docker schema 2 manifest of `image` (for registries that only take Docker types).
 *
 * @example
 * ```ts
 * import type { EncodedImage } from "./image.ts";
 * declare const image: EncodedImage;
 * dockerManifest(image).mediaType; // "application/vnd.docker.distribution.manifest.v2+json"
 * ```
 */
export function dockerManifest(image: EncodedImage): JsonBlob {
  return manifestOf(image, DOCKER);
}
