/**
 * Reading existing images (base images for `fromImage`): docker-archives
 * (plain, gzip or zstd, from `docker save`, skopeo, Nix or dockwright), OCI
 * archives and OCI layout folders. Layers land in the blob store; every
 * layer is checked against the config's diff_ids and every OCI blob against
 * its digest, so a corrupt or tampered archive is refused, not half used.
 *
 * Archive member names are sanitised (no absolute paths, no `..`), symlinked
 * members (old `docker save` links repeated layers) are resolved inside the
 * archive only, and nothing is ever extracted to disk. Only regular files are
 * read (never a fifo or a device), a layout's files only inside the layout,
 * and every size, count and depth is bounded (see `host/input_limits.ts`).
 *
 * @module
 */

import { existsSync, lstatSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { type BlobSink, storeSink } from "../cache/ingest_blob.ts";
import { ImageFormatError, parseJson } from "../model/errors.ts";
import { type Image, platformOf } from "../model/image.ts";
import { type Platform, platformMatches, platformName } from "../model/platform.ts";
import { readInputFile } from "../host/input_files.ts";
import { inArchive } from "../tar/errors.ts";
import { readMembers } from "./archive_members.ts";
import { readDockerArchive } from "./docker_archive/read.ts";
import { ociLayoutBlobs, ociMemberBlobs, readOci } from "./oci_layout/read.ts";

export { ImageFormatError, parseJson };

/** Options of {@link readImage}. */
export interface ReadImageOptions {
  /**
   * Picks an image: of an OCI index by its ref name (`name:tag`, or the tag
   * alone); of a docker-archive by a `RepoTags` entry (or its tag), or `@N`.
   */
  tag?: string;
  /** Where the blobs go. Default: the store (inspect scans them instead). */
  sink?: BlobSink;
  /** Read the archive from this stream (stdin), in one pass; `path` only names it. */
  input?: AsyncIterable<Uint8Array>;
  /**
   * The platform asked for: the image of an index for it, and an error when
   * there is none or the image is for another. Without it, an index gives
   * the host's image, else its first linux one.
   */
  platform?: Platform;
}

/**
 * Reads the image at `path` (docker-archive, OCI archive, or OCI layout
 * folder) into the store (or into another `sink`: inspect scans the blobs
 * instead of keeping them). Docker-archives always give their first image,
 * as Nix does.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 *
 * const store = BlobStore.open();
 * const base = await readImage(store, "./debian.tar.gz"); // e.g. saved by `podman save debian:12`
 * base.layers.length; // 1, as Debian's images have one layer
 * const app = await readImage(store, "./app.oci", { tag: "1.0" }); // the image of an OCI layout tagged 1.0
 * const arm = await readImage(store, "./multi.oci", {
 *   platform: { os: "linux", architecture: "arm64" },
 * });
 * ```
 */
export async function readImage(
  store: BlobStore,
  path: string,
  options: ReadImageOptions = {},
): Promise<Image> {
  const image = await readAnyImage(store, path, options);
  const want = options.platform;
  if (want) {
    const got = platformOf(image);
    if (!platformMatches(got, want)) {
      throw new ImageFormatError(
        path,
        `is an image for ${platformName(got)}, not ${platformName(want)}: ask for ${
          platformName(got)
        }, or give an image (or index) for ${platformName(want)}`,
      );
    }
  }
  return image;
}

async function readAnyImage(
  store: BlobStore,
  path: string,
  options: ReadImageOptions,
): Promise<Image> {
  const { tag, platform, input } = options;
  const sink = options.sink ?? storeSink(store);
  if (input) return await readArchive(store, path, options, sink);
  if (!existsSync(path)) {
    throw new ImageFormatError(path, "no such file or folder; check the fromImage path");
  }
  if (statSync(path).isDirectory()) {
    if (!lstatSync(join(path, "index.json"), { throwIfNoEntry: false })) {
      throw new ImageFormatError(path, "is a folder without index.json: not an OCI image layout");
    }
    return await readOci(
      store,
      path,
      ociLayoutBlobs(store, path, sink),
      readInputFile(join(path, "index.json"), { source: path, member: "index.json", within: path }),
      tag,
      platform,
    );
  }
  return await readArchive(store, path, options, sink);
}

/** An archive's image: from the file at `path`, or from `options.input` (which `path` names). */
async function readArchive(
  store: BlobStore,
  path: string,
  { tag, platform, input }: ReadImageOptions,
  sink: BlobSink,
): Promise<Image> {
  let members;
  try {
    members = await readMembers(store, path, sink, input);
  } catch (error) {
    throw inArchive(error, path, "not a readable image archive");
  }
  if (members.small.has("manifest.json")) {
    return await readDockerArchive(store, path, members, tag);
  }
  if (members.small.has("index.json")) {
    return await readOci(
      store,
      path,
      ociMemberBlobs(store, path, members),
      members.small.get("index.json")!,
      tag,
      platform,
    );
  }
  throw new ImageFormatError(
    path,
    "is not an image archive: it has neither manifest.json (docker-archive) nor index.json (OCI)",
  );
}
