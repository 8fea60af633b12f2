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
 * jsonBlob({ a: 1 }, "application/json").digest; // "sha256:..."
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
  return jsonBlob(
    {
      schemaVersion: 2,
      mediaType: OCI.manifest,
      config: { mediaType: OCI.config, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((l) => ({
        mediaType: OCI.layer[l.encoding],
        digest: l.digest,
        size: l.size,
      })),
    },
    OCI.manifest,
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
  return jsonBlob(
    {
      schemaVersion: 2,
      mediaType: DOCKER.manifest,
      config: { mediaType: DOCKER.config, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((l) => ({
        mediaType: DOCKER.layer[l.encoding],
        digest: l.digest,
        size: l.size,
      })),
    },
    DOCKER.manifest,
  );
}
