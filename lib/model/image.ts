/**
 * An image: its config document and its layers, bottom first. Every reader
 * (docker-archive, OCI layout and archive, registry) returns one and every
 * writer takes one; the bytes live in the blob store.
 *
 * @module
 */

import type { Digest } from "../codec/sha256.ts";
import { type ImageConfigFile, parseConfigFile } from "./image_config.ts";
import type { EncodedLayer, Layer } from "./layer.ts";
import type { Platform } from "./platform.ts";

/**
 * How a docker-archive of this image is laid out, after the Nix function that
 * made it: `buildImage` writes `<id>/VERSION`, `<id>/json`, `<id>/layer.tar`
 * and `repositories`; the streamer writes `<diff_id>/layer.tar` only.
 */
export type ArchiveLayout = "buildImage" | "stream";

/**
 * The config document's exact bytes and their digest.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("{}");
 * const config: ConfigBlob = { bytes, digest: `sha256:${"4".repeat(64)}`, size: bytes.length };
 * ```
 */
export interface ConfigBlob {
  /** The document's bytes, exactly as stored. */
  bytes: Uint8Array;
  /** sha256 of the bytes (the image's config digest). */
  digest: Digest;
  /** Byte size. */
  size: number;
}

/**
 * An image, whatever made it or wherever it came from.
 *
 * @example
 * ```ts
 * import type { Layer } from "./layer.ts";
 *
 * declare const config: ConfigBlob;
 * declare const layers: Layer[];
 * const image: Image = { repoName: "hello", tag: "latest", config, layers, archiveLayout: "buildImage" };
 * ```
 */
export interface Image {
  /** Repository name (Nix's `imageName`, `lib.toLower name`); may start with a registry host; "" when unnamed. */
  repoName: string;
  /** Tag; "" when the source named none. */
  tag: string;
  /** The image config document. */
  config: ConfigBlob;
  /** Layers, bottom first. */
  layers: Layer[];
  /** The docker-archive layout this image is written in. */
  archiveLayout: ArchiveLayout;
  /** mtime (seconds) of the members of a `stream` layout archive (Nix's `mtime`). */
  streamMtime?: number;
  /**
   * The manifest the image was read with, for OCI layouts and archives and
   * registries (absent for docker-archives and images built here). Only
   * `inspect` reads it; writers make their own manifests.
   */
  sourceManifest?: { digest: Digest; mediaType: string; size: number };
  /**
   * The multi-platform index the image was chosen from (an OCI layout or
   * archive, a registry), with the platforms it lists; its digest when it is
   * a blob (not a layout's `index.json`). Only `inspect` reads it.
   */
  sourceIndex?: { digest?: Digest; platforms: Platform[] };
}

/**
 * An image whose layers have the encodings a writer chose.
 *
 * @example
 * ```ts
 * declare const image: EncodedImage;
 * image.layers.map((l) => l.digest);
 * ```
 */
export interface EncodedImage extends Omit<Image, "layers"> {
  /** Layers with their chosen encodings, bottom first. */
  layers: EncodedLayer[];
}

/**
 * `name:tag`, the reference written into archives.
 *
 * @example
 * ```ts
 * repoTag({ repoName: "hello", tag: "latest" }); // "hello:latest"
 * ```
 */
export function repoTag(image: Pick<Image, "repoName" | "tag">): string {
  return `${image.repoName}:${image.tag}`;
}

const parsed = new WeakMap<Uint8Array, ImageConfigFile>();

/**
 * The image's config document, parsed and checked field by field (once per image).
 *
 * @example
 * ```ts
 * import { digestOf } from "../codec/sha256.ts";
 *
 * const bytes = new TextEncoder().encode(
 *   '{"config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}',
 * );
 * const config: ConfigBlob = { bytes, digest: digestOf(bytes), size: bytes.length };
 * configFileOf({ config }).config?.Env; // ["PATH=/bin"]
 * ```
 */
export function configFileOf(image: Pick<Image, "config">, source = "image"): ImageConfigFile {
  let file = parsed.get(image.config.bytes);
  if (!file) {
    file = parseConfigFile(source, image.config.bytes);
    parsed.set(image.config.bytes, file);
  }
  return file;
}

/**
 * The platform an image config declares (`os`, `architecture`, `variant`).
 *
 * @example
 * ```ts
 * import { digestOf } from "../codec/sha256.ts";
 *
 * // No os or architecture: the defaults.
 * const bytes = new TextEncoder().encode('{"rootfs":{"type":"layers","diff_ids":[]}}');
 * const config: ConfigBlob = { bytes, digest: digestOf(bytes), size: bytes.length };
 * platformOf({ config }); // { os: "linux", architecture: "amd64" }
 * ```
 */
export function platformOf(image: Pick<Image, "config">): Platform {
  const file = configFileOf(image);
  return {
    os: file.os ?? "linux",
    architecture: file.architecture ?? "amd64",
    ...(file.variant ? { variant: file.variant } : {}),
  };
}
