/**
 * docker-archive sink: what `docker load` and `podman load` read.
 *
 * Two layouts, after the Nix function that made the image (`archiveLayout`):
 * - `buildImage`: `<id>/VERSION`, `<id>/json`, `<id>/layer.tar` per layer,
 *   `<config-sha256>.json`, `manifest.json` and `repositories`; members are
 *   read-only, owned by 0:0, dated 1980-01-01 (Nix's SOURCE_DATE_EPOCH).
 * - `stream`: `<diff_id>/layer.tar` per layer, `<config-sha256>.json`,
 *   `manifest.json` (4-space JSON), members 0644 dated `mtime`.
 *
 * Layers inside a docker-archive are uncompressed; as in Nix, `compressor`
 * compresses the whole archive.
 *
 * @module
 */

import type { BlobStore } from "../../cache/blob_store.ts";
import type { Compressor } from "../../codec/compress.ts";
import { sha256Hex } from "../../codec/sha256.ts";
import type { TarEntry } from "../../tar/entry.ts";
import { compareNames } from "../../tree/file_tree.ts";
import { type EncodedImage, type Image, repoTag } from "../../model/image.ts";
import { encodeImages } from "../encode.ts";
import { MemberFactory, writeTarFile } from "../archive_file.ts";

import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";

const encoder = new TextEncoder();

function json(value: unknown, indent: number, trailingNewline: boolean): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, indent) + (trailingNewline ? "\n" : ""));
}

/**
 * The members of a docker-archive holding `images` (several images share
 * identical members once).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { EncodedImage } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: EncodedImage; // tar layers, as encodeImage(..., { kind: "tar" }) gives
 * const entries = dockerArchiveEntries(store, [image]);
 * entries.at(-1)?.path; // "repositories" (a buildImage layout; "manifest.json" for a stream one)
 * ```
 */
export function dockerArchiveEntries(
  store: BlobStore,
  images: readonly EncodedImage[],
): TarEntry[] {
  const members = new Map<string, TarEntry>();
  const manifest: Array<Record<string, unknown>> = [];
  const repositories: Record<string, Record<string, string>> = {};
  const stream = images.length > 0 && images.every((i) => i.archiveLayout === "stream");
  const factory = stream
    ? new MemberFactory({ fileMode: 0o644, dirMode: 0o755, mtime: streamMtime(images[0]) })
    : new MemberFactory({ fileMode: 0o444, dirMode: 0o555, mtime: SOURCE_DATE_EPOCH });
  const add = (e: TarEntry) => {
    if (!members.has(e.path)) members.set(e.path, e);
  };
  for (const image of images) {
    const config = JSON.parse(new TextDecoder().decode(image.config.bytes));
    const layerPaths: string[] = [];
    let parent: string | undefined;
    for (const layer of image.layers) {
      if (layer.encoding !== "none") {
        throw new Error("internal: docker-archive layers must be uncompressed");
      }
      if (stream) {
        const path = `${layer.diffId.slice(7)}/layer.tar`;
        const member = factory.blob(path, store, layer.digest, layer.size);
        if (layer.archiveMode !== undefined) member.mode = layer.archiveMode;
        if (layer.archiveOwnerName !== undefined) {
          [member.uname, member.gname] = [layer.archiveOwnerName, layer.archiveOwnerName];
        }
        add(member);
        layerPaths.push(path);
        continue;
      }
      // Legacy v1 layer id: chained like Docker's ChainID so the same layer on
      // a different parent gets its own folder.
      const id = sha256Hex(`${parent ?? ""} ${layer.diffId}`);
      const v1 = {
        id,
        ...(parent ? { parent } : {}),
        created: config.created,
        architecture: config.architecture,
        os: config.os,
      };
      add(factory.dir(id));
      add(factory.bytes(`${id}/VERSION`, encoder.encode("1.0")));
      add(factory.bytes(`${id}/json`, json(v1, 0, false)));
      add(factory.blob(`${id}/layer.tar`, store, layer.digest, layer.size));
      layerPaths.push(`${id}/layer.tar`);
      parent = id;
    }
    const configName = `${image.config.digest.slice(7)}.json`;
    add(factory.bytes(configName, image.config.bytes));
    manifest.push(
      stream
        ? { Config: configName, RepoTags: [repoTag(image)], Layers: layerPaths }
        : { RepoTags: [repoTag(image)], Layers: layerPaths, Config: configName },
    );
    if (parent) (repositories[image.repoName] ??= {})[image.tag] = parent;
  }
  add(factory.bytes("manifest.json", stream ? json(manifest, 4, false) : json(manifest, 2, true)));
  if (!stream) add(factory.bytes("repositories", json(repositories, 2, true)));
  const sorted = [...members.values()];
  if (!stream) sorted.sort((a, b) => compareNames(a.path, b.path));
  return sorted;
}

function streamMtime(image: EncodedImage): number {
  return image.streamMtime ?? 1;
}

/**
 * Writes a docker-archive of `images` to `target`, atomically, compressed as
 * a whole with `compressor`; returns the images as written (tar layers).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image;
 * const [written] = await writeDockerArchive(store, [image], "hello.tar.gz", "gz");
 * written.layers.map((l) => l.encoding); // all "none": the archive as a whole is gzipped
 * ```
 */
export async function writeDockerArchive(
  store: BlobStore,
  images: readonly Image[],
  target: string,
  compressor: Compressor,
  onBytes?: (n: number) => void,
): Promise<EncodedImage[]> {
  const encoded = await encodeImages(store, images, { kind: "tar" });
  // A compressed archive is kept in the cache: an unchanged image is not compressed again.
  await writeTarFile(target, dockerArchiveEntries(store, encoded), compressor, onBytes, store);
  return encoded;
}
