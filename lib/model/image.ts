/**
 * A built image: config bytes and layer blobs in the blob store, ready for
 * any sink (docker-archive, OCI layout, OCI archive, registry).
 *
 * @module
 */

import type { BlobRef } from "../cache/blob_store.ts";
import type { Layer } from "./layer.ts";

/**
 * How a docker-archive of this image is laid out, after the Nix function that
 * made it: `buildImage` writes `<id>/VERSION`, `<id>/json`, `<id>/layer.tar`
 * and `repositories`; the streamer writes `<diff_id>/layer.tar` only.
 */
export type ArchiveLayout = "buildImage" | "stream";

/**
 * Everything a sink needs to write an image.
 *
 * @example
 * ```ts
 * const image: BuiltImage = { repoName: "hello", tag: "latest", config, layers, archiveLayout: "buildImage" };
 * ```
 */
export interface BuiltImage {
  /** Repository name as Nix computes it (`lib.toLower name`), may contain a registry host. */
  repoName: string;
  tag: string;
  /** The image config JSON, stored in the blob store. */
  config: BlobRef & { bytes: Uint8Array };
  layers: Layer[];
  archiveLayout: ArchiveLayout;
  /** mtime (seconds) of the members of a `stream` layout archive (Nix's `mtime`). */
  streamMtime?: number;
}

/**
 * `name:tag`, the reference written into archives.
 *
 * @example
 * ```ts
 * repoTag(image); // "hello:latest"
 * ```
 */
export function repoTag(image: Pick<BuiltImage, "repoName" | "tag">): string {
  return `${image.repoName}:${image.tag}`;
}
