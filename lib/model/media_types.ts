/**
 * Media types of the OCI image spec and their Docker equivalents.
 *
 * @module
 */

import type { Compressor } from "../codec/compress.ts";

/** OCI media types. */
export const OCI = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layoutHeader: "application/vnd.oci.layout.header.v1+json",
  layer: {
    none: "application/vnd.oci.image.layer.v1.tar",
    gz: "application/vnd.oci.image.layer.v1.tar+gzip",
    zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  } satisfies Record<Compressor, string>,
} as const;

/** Docker (schema 2) media types. */
export const DOCKER = {
  manifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  manifest: "application/vnd.docker.distribution.manifest.v2+json",
  config: "application/vnd.docker.container.image.v1+json",
  layer: {
    none: "application/vnd.docker.image.rootfs.diff.tar",
    gz: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    zstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  } satisfies Record<Compressor, string>,
} as const;

/**
 * The compressor a layer media type implies, or undefined for an unknown type.
 *
 * @example
 * ```ts
 * compressorOfMediaType("application/vnd.oci.image.layer.v1.tar+zstd"); // "zstd"
 * ```
 */
export function compressorOfMediaType(mediaType: string): Compressor | undefined {
  for (const table of [OCI.layer, DOCKER.layer]) {
    for (const [k, v] of Object.entries(table)) if (v === mediaType) return k as Compressor;
  }
  return undefined;
}
