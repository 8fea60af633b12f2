/**
 * One way to open an image from any place dockwright reads: a docker-archive
 * (plain, gzip or zstd), an OCI layout folder or archive, or a registry.
 * Specs follow skopeo's transport names where a prefix is given
 * (`docker-archive:`, `oci:`, `oci-archive:`, `docker://`); without one, an
 * existing file or folder is read, `-` is an archive piped into standard
 * input, and anything else is a registry reference.
 *
 * @module
 */

import { existsSync } from "node:fs";
import process from "node:process";
import type { BlobStore } from "../cache/blob_store.ts";
import type { BlobSink } from "../cache/ingest_blob.ts";
import type { Progress } from "../host/progress.ts";
import type { Image } from "../model/image.ts";
import type { Platform } from "../model/platform.ts";
import {
  formatReference,
  type ImageReference,
  InvalidReferenceError,
  parseReference,
} from "../model/reference.ts";
import { ImageFormatError } from "../model/errors.ts";
import { readImage } from "./read_image.ts";
import type { RegistryOptions } from "./registry/client.ts";
import { RegistryError } from "./registry/errors.ts";
import { pull } from "./registry/pull.ts";

/** Names that are image files, not registry references: `.tar`, `.tar.gz`, `.tgz`, `.zst`, `.oci`, ... */
const ARCHIVE_NAME = /\.(?:tar|tgz|gz|zst|zstd|oci|oci-archive|docker-archive)$/i;

/** Where an image spec points. */
export type ImageLocation =
  /** A docker-archive, OCI archive or OCI layout folder; `tag` picks one of its images (see `readImage`). */
  | { kind: "path"; path: string; tag?: string }
  /**
   * An image (or index) in a registry; `bare` is the spec when it had no
   * `docker://` (it may have been meant as a file that is not there).
   */
  | { kind: "registry"; reference: ImageReference; bare?: string }
  /** An archive piped into standard input (`-`): `./result | dockwright inspect -`. */
  | { kind: "stdin" };

/**
 * Where `spec` points.
 *
 * @example
 * ```ts
 * // With a folder ./hello.oci here:
 * parseImageSpec("oci:./hello.oci:hello:latest"); // { kind: "path", path: "./hello.oci", tag: "hello:latest" }
 * parseImageSpec("-"); // { kind: "stdin" }: `./result | dockwright inspect -`
 * parseImageSpec("docker://127.0.0.1:5000/app:1").kind; // "registry"
 * ```
 */
export function parseImageSpec(spec: string): ImageLocation {
  if (spec === "") {
    throw new ImageFormatError(
      '""',
      "an empty image spec names nothing; give a file, a folder or a registry reference",
    );
  }
  if (spec === "-") return { kind: "stdin" };
  const prefixed = /^(docker-archive|oci-archive|oci):(.+)$/.exec(spec);
  if (prefixed) {
    const [, , rest] = prefixed;
    if (existsSync(rest)) return { kind: "path", path: rest };
    // `oci:PATH:REF`, `docker-archive:PATH:REF`: the path is the longest existing prefix before
    // a colon; REF may hold colons itself (`hello:latest`).
    for (let colon = rest.lastIndexOf(":"); colon > 0; colon = rest.lastIndexOf(":", colon - 1)) {
      if (existsSync(rest.slice(0, colon))) {
        return { kind: "path", path: rest.slice(0, colon), tag: rest.slice(colon + 1) };
      }
    }
    return { kind: "path", path: rest };
  }
  if (spec.startsWith("docker://")) {
    return { kind: "registry", reference: parseReference(spec.slice("docker://".length)) };
  }
  if (existsSync(spec) || spec.startsWith(".") || spec.startsWith("/")) {
    return { kind: "path", path: spec };
  }
  if (ARCHIVE_NAME.test(spec)) {
    // `app.tar` is also a valid repository name, but a user who typed it meant a file.
    throw new ImageFormatError(
      spec,
      `no such file or folder here; for a registry image of that name, write docker://${spec}`,
    );
  }
  try {
    return { kind: "registry", reference: parseReference(spec), bare: spec };
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new ImageFormatError(
      spec,
      "is neither a file nor a folder here, nor an image reference (registry/repository[:tag])",
    );
  }
}

/** Options of {@link openImageAt}. */
export interface OpenOptions extends RegistryOptions {
  /** Which image of a multi-platform index. Default: `linux` and the host's architecture. */
  platform?: Platform;
  /** Progress of a pull. */
  progress?: Progress;
  /** Where the blobs go. Default: the store (inspect scans them instead). */
  sink?: BlobSink;
}

/**
 * Reads the image at `location` into `store` (or `options.sink`): every blob
 * verified against its digest, every layer against the config's diffIds.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 *
 * const store = BlobStore.open();
 * const image = await openImageAt(store, parseImageSpec("./hello.tar"));
 * store.has(image.config.digest); // true
 * ```
 */
export async function openImageAt(
  store: BlobStore,
  location: ImageLocation,
  options: OpenOptions = {},
): Promise<Image> {
  if (location.kind === "stdin") {
    if (process.stdin.isTTY) {
      throw new ImageFormatError(
        "stdin",
        "is a terminal, not an image archive: pipe one in (e.g. ./result | dockwright inspect -)",
      );
    }
    return await readImage(store, "stdin", {
      input: process.stdin as AsyncIterable<Uint8Array> & { destroy(): void },
      sink: options.sink,
      platform: options.platform,
    });
  }
  if (location.kind === "path") {
    if (!existsSync(location.path)) {
      throw new ImageFormatError(location.path, "no such file or folder");
    }
    return await readImage(store, location.path, {
      tag: location.tag,
      sink: options.sink,
      platform: options.platform,
    });
  }
  const ref = location.reference;
  const full = ref.tag || ref.digest ? ref : { ...ref, tag: "latest" };
  try {
    const pulled = await pull(store, full, {
      ...options,
      strictPlatform: options.platform !== undefined,
    });
    return pulled.image;
  } catch (error) {
    const bare = location.bare;
    if (bare && !bare.includes("/") && error instanceof RegistryError) {
      // A short name may be a typo of a file name, read as a Docker Hub image: say so.
      error.message = `there is no file or folder ${
        JSON.stringify(bare)
      } here, so it was read as the registry image ${formatReference(full)}: ${error.message}`;
    }
    throw error;
  }
}
