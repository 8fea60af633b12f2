/**
 * The members of an image archive (docker-archive or OCI archive, plain,
 * gzip or zstd), read once: JSON documents into memory, everything else into
 * the blob store. Member names are made safe (no absolute paths, no `..`),
 * links are resolved inside the archive only, and nothing is extracted to
 * disk. Shared by the docker-archive and OCI readers.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { posix } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { diffIdOf, ingestBlob, type IngestedBlob } from "../cache/ingest_blob.ts";
import { decompress } from "../codec/decompress.ts";
import { digestOf } from "../codec/sha256.ts";
import { ImageFormatError } from "../model/errors.ts";
import type { Image } from "../model/image.ts";
import type { Layer } from "../model/layer.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";

/** Member files kept in memory (JSON documents); everything else goes to the store. */
export const SMALL_LIMIT = 16 << 20;
const isMetadata = (path: string) =>
  path.endsWith(".json") || path === "repositories" || path === "oci-layout" ||
  path.endsWith("/VERSION");

/** An archive's members: JSON documents in memory, blobs in the store, links by name. */
export interface Members {
  small: Map<string, Uint8Array>;
  blobs: Map<string, IngestedBlob>;
  links: Map<string, string>;
}

/** Reads every member of an archive: metadata into memory, blobs into the store. */
export async function readMembers(store: BlobStore, path: string): Promise<Members> {
  const members: Members = { small: new Map(), blobs: new Map(), links: new Map() };
  for await (
    const { header, body } of readTar(
      decompress(createReadStream(path, { highWaterMark: 1 << 20 })),
    )
  ) {
    const name = normalizeMemberPath(header.path, { allowAbsolute: false });
    if (header.type === "symlink" || header.type === "hardlink") {
      const target = header.type === "symlink"
        ? posix.normalize(posix.join(posix.dirname(name), header.linkTarget ?? ""))
        : normalizeMemberPath(header.linkTarget ?? "", { allowAbsolute: false });
      if (target.startsWith("../") || target === ".." || target.startsWith("/")) {
        throw new ImageFormatError(
          path,
          `member ${name} links outside the archive (${header.linkTarget})`,
        );
      }
      members.links.set(name, target);
      continue;
    }
    if (header.type !== "file") continue;
    if (isMetadata(name)) {
      if (header.size > SMALL_LIMIT) {
        throw new ImageFormatError(
          path,
          `${name} is ${header.size} bytes, too large for a metadata file`,
        );
      }
      const chunks: Uint8Array[] = [];
      for await (const c of body) chunks.push(c.slice());
      members.small.set(name, new Uint8Array(Buffer.concat(chunks)));
    } else {
      members.blobs.set(name, await ingestBlob(store, body, { what: `${path}: ${name}` }));
    }
  }
  return members;
}

export function resolveMember(source: string, members: Members, name: string): string {
  let current = normalizeMemberPath(name, { allowAbsolute: false });
  for (let hops = 0; members.links.has(current); hops++) {
    if (hops > 40) throw new ImageFormatError(source, `member ${name}: too many links`);
    current = members.links.get(current)!;
  }
  return current;
}

export function blobMember(
  store: BlobStore,
  source: string,
  members: Members,
  name: string,
): IngestedBlob {
  const resolved = resolveMember(source, members, name);
  const blob = members.blobs.get(resolved);
  if (blob) return blob;
  const small = members.small.get(resolved);
  if (small) return { ...store.putBytes(small), compressor: "none" };
  throw new ImageFormatError(source, `manifest names ${name}, which the archive does not contain`);
}

export async function checkedLayer(
  store: BlobStore,
  source: string,
  blob: IngestedBlob,
  expectedDiffId: string | undefined,
  what: string,
): Promise<Layer> {
  const diffId = await diffIdOf(store, blob);
  if (expectedDiffId !== undefined && diffId !== expectedDiffId) {
    throw new ImageFormatError(
      source,
      `${what} has diff_id ${diffId} but the config says ${expectedDiffId}; the archive is corrupt or was tampered with`,
    );
  }
  return {
    diffId,
    origin: { encoding: blob.compressor, digest: blob.digest, size: blob.size },
    comment: what,
  };
}

/** An image read from an archive or layout, named `name:tag` ("" when the source names none). */
export function readImageValue(
  store: BlobStore,
  configBytes: Uint8Array,
  layers: Layer[],
  name: { name: string; tag?: string },
): Image {
  const digest = digestOf(configBytes);
  store.putBytes(configBytes);
  return {
    repoName: name.name,
    tag: name.tag ?? (name.name ? "latest" : ""),
    config: { bytes: configBytes, digest, size: configBytes.length },
    layers,
    archiveLayout: "stream",
  };
}
