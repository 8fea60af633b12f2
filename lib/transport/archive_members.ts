/**
 * The members of an image archive (docker-archive or OCI archive, plain,
 * gzip or zstd), read once: the archive's top-level documents
 * (`manifest.json`, `index.json`, `repositories`, `oci-layout`) into memory,
 * every other file into the blob store (or, for `inspect`, through a scan
 * that keeps none of it: see `BlobSink`). Shared by the docker-archive reader,
 * the OCI reader and `mergeImages`, so every reader refuses the same things:
 *
 * - an archive that is not a regular file (a fifo, a device such as
 *   `/dev/zero`, a folder);
 * - unsafe member names (absolute, `..`, NUL, over `PATH_MAX`);
 * - links that lead out of the archive, are absolute, or loop;
 * - members that are devices or fifos;
 * - documents over `maxJsonBytes`, more than `maxArchiveMembers` members, a
 *   compressed archive that expands more than `maxExpansion` allows (counted
 *   while it streams, before `manifest.json` is even reached), and writes that
 *   would leave less than `minFreeBytes` on the cache's disk.
 *
 * Nothing is extracted to disk.
 *
 * @module
 */

import { posix } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { type BlobSink, type IngestedBlob, storeSink } from "../cache/ingest_blob.ts";
import { type Compression, decompress, detectCompression } from "../codec/decompress.ts";
import { digestOf } from "../codec/sha256.ts";
import { inputFileStream, openInputFile } from "../host/input_files.ts";
import { ExpansionBudget, inputLimits, limitError } from "../host/input_limits.ts";
import { ImageFormatError } from "../model/errors.ts";
import type { Image } from "../model/image.ts";
import type { Layer } from "../model/layer.ts";
import { TarChecksumError, TarFormatError, TarTruncatedError } from "../tar/errors.ts";
import { showName } from "../tar/names.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";

/** The archive's own documents, kept in memory; every other member goes to the store. */
const DOCUMENTS = new Set(["manifest.json", "index.json", "repositories", "oci-layout"]);

/** Links followed to resolve one member at most. */
const MAX_LINK_HOPS = 40;

/**
 * One member as the archive lists it (the last one of a name wins, as when extracting).
 *
 * @example
 * ```ts
 * const old: MemberEntry = { name: "2/layer.tar", type: "symlink", mode: 0o777, target: "1/layer.tar", linkTarget: "../1/layer.tar" };
 * ```
 */
export interface MemberEntry {
  /** The member's safe name (relative, normalised). */
  name: string;
  /** `file`, `directory`, `symlink` or `hardlink`. */
  type: "file" | "directory" | "symlink" | "hardlink";
  /** Permission bits. */
  mode: number;
  /** For links: the member it names, resolved inside the archive. */
  target?: string;
  /** For symlinks: the target as written. */
  linkTarget?: string;
}

/**
 * An archive's members: its documents in memory, file members in the store, links by name.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * const members: Members = await readMembers(BlobStore.open(), "./hello.tar");
 * members.compression; // "none", "gzip" or "zstd"
 * ```
 */
export interface Members {
  /** `manifest.json`, `index.json`, `repositories`, `oci-layout`, when present. */
  small: Map<string, Uint8Array>;
  /** Every other file member, as the sink took it. */
  blobs: Map<string, IngestedBlob>;
  /** Links: member name to the member they name. */
  links: Map<string, string>;
  /** Every member by name, in archive order. */
  entries: Map<string, MemberEntry>;
  /** What the archive may still expand to: decompressing its layers counts here too. */
  budget: ExpansionBudget;
  /** How the archive as a whole is compressed. */
  compression: Compression;
  /** Where the file members went (the store, unless a reader asked otherwise). */
  sink: BlobSink;
}

/**
 * Reads every member of the archive at `path` (plain, gzip or zstd): its
 * documents into memory, file members into `sink` (the store by default).
 * With `input`, the archive is read from that stream (stdin) in one pass, and
 * `path` only names it.
 * Throws an `InputError`
 * (`ImageFormatError`, `TarError`) naming the archive and the member for
 * anything the module documentation lists.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * const store = BlobStore.open();
 * const members = await readMembers(store, "./hello.tar");
 * members.small.has("manifest.json"); // true for a docker-archive
 * ```
 */
export async function readMembers(
  store: BlobStore,
  path: string,
  sink: BlobSink = storeSink(store),
  input?: AsyncIterable<Uint8Array>,
): Promise<Members> {
  const limits = inputLimits();
  const file = input ? undefined : openInputFile(path, { source: path, member: "the archive" });
  // A stream's size is known as it is read: its budget grows with it.
  const budget = new ExpansionBudget(path, file?.size ?? 0, limits.maxExpansion);
  const members: Members = {
    small: new Map(),
    blobs: new Map(),
    links: new Map(),
    entries: new Map(),
    budget,
    compression: "none",
    sink,
  };
  const raw: AsyncIterable<Uint8Array> & { destroy?(): void } = file
    ? inputFileStream(file)
    : input!;
  const peeked = (async function* () {
    let first = true;
    for await (const chunk of raw) {
      if (first) members.compression = detectCompression(chunk.subarray(0, 8));
      first = false;
      if (!file) budget.addInput(chunk.length);
      yield chunk;
    }
  })();
  let count = 0;
  try {
    for await (
      const { header, body } of readTar(
        decompress(peeked, { what: path, member: "the uncompressed archive", budget }),
      )
    ) {
      if (++count > limits.maxArchiveMembers) {
        throw limitError(
          path,
          "the archive",
          count,
          "maxArchiveMembers",
          limits.maxArchiveMembers,
        );
      }
      const name = normalizeMemberPath(header.path, { allowAbsolute: false });
      if (name === "") continue;
      const shown = showName(name);
      members.small.delete(name);
      members.blobs.delete(name);
      members.links.delete(name);
      if (header.type === "symlink" || header.type === "hardlink") {
        const link = header.linkTarget ?? "";
        if (link.includes("\0") || (header.type === "symlink" && link.startsWith("/"))) {
          throw new ImageFormatError(
            path,
            `member ${shown} is a link to ${JSON.stringify(link)}, which is not inside the archive`,
          );
        }
        const target = header.type === "symlink"
          ? posix.normalize(posix.join(posix.dirname(name), link))
          : normalizeMemberPath(link, { allowAbsolute: false });
        if (target.startsWith("../") || target === ".." || target.startsWith("/")) {
          throw new ImageFormatError(
            path,
            `member ${shown} links outside the archive (${JSON.stringify(link)})`,
          );
        }
        members.links.set(name, target);
        members.entries.set(name, {
          name,
          type: header.type,
          mode: header.mode,
          target,
          linkTarget: link,
        });
        continue;
      }
      if (header.type === "directory") {
        members.entries.set(name, { name, type: "directory", mode: header.mode });
        continue;
      }
      if (header.type !== "file") {
        throw new ImageFormatError(
          path,
          `member ${shown} is a ${header.type}: an image archive holds only files, folders and links`,
        );
      }
      members.entries.set(name, { name, type: "file", mode: header.mode });
      if (DOCUMENTS.has(name)) {
        if (header.size > limits.maxJsonBytes) {
          throw limitError(path, shown, header.size, "maxJsonBytes", limits.maxJsonBytes);
        }
        const bytes = new Uint8Array(header.size);
        let at = 0;
        for await (const c of body) {
          bytes.set(c, at);
          at += c.length;
        }
        members.small.set(name, bytes);
      } else {
        members.blobs.set(name, await sink.take(body, { what: `${path}: ${shown}`, budget }));
      }
    }
  } catch (error) {
    if (count === 0 && error instanceof TarTruncatedError && /input is empty/.test(error.message)) {
      throw new ImageFormatError(
        path,
        input
          ? "nothing was piped in (standard input is empty); pipe an image archive in, e.g. ./result | dockwright inspect -"
          : "is an empty file, not an image archive",
      );
    }
    if (count === 0 && notATar(error)) {
      throw new ImageFormatError(
        path,
        "is not an image archive: it is not a tar file (plain, gzip or zstd); give a docker-archive, an OCI archive or an OCI layout folder",
      );
    }
    throw error;
  } finally {
    raw.destroy?.();
  }
  return members;
}

/** True for a tar error on the first header that says the input is no tar at all (not empty, not cut short inside a member). */
function notATar(error: unknown): boolean {
  if (error instanceof TarChecksumError || error instanceof TarFormatError) return true;
  return error instanceof TarTruncatedError && /partial \d+-byte header/.test(error.message);
}

/**
 * The name of the member `name` leads to: itself, or the member its links
 * name, inside the archive. Throws for a link loop or a chain of more than 40.
 *
 * @example
 * ```ts
 * declare const members: Members; // old docker save: 1/layer.tar -> ../2/layer.tar
 * resolveMember("./old.tar", members, "1/layer.tar"); // "2/layer.tar"
 * ```
 */
export function resolveMember(source: string, members: Members, name: string): string {
  let current = normalizeMemberPath(name, { allowAbsolute: false });
  for (let hops = 0; members.links.has(current); hops++) {
    if (hops >= MAX_LINK_HOPS) {
      throw new ImageFormatError(
        source,
        `member ${showName(name)}: its links loop or chain more than ${MAX_LINK_HOPS} times`,
      );
    }
    current = members.links.get(current)!;
  }
  return current;
}

/**
 * The stored blob of the file member `name` (through links), or an
 * `ImageFormatError` saying the archive does not contain it.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * declare const store: BlobStore;
 * declare const members: Members;
 * const layer = blobMember(store, "./hello.tar", members, "abc/layer.tar");
 * layer.digest; // "sha256:..."
 * ```
 */
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
  throw new ImageFormatError(
    source,
    `the manifest names ${JSON.stringify(name)}, which the archive does not contain`,
  );
}

/**
 * The bytes of the small member `name` (a config): at most `maxJsonBytes`.
 *
 * @example
 * ```ts
 * declare const members: Members;
 * const config = documentMember("./hello.tar", members, "abc.json");
 * ```
 */
export function documentMember(
  source: string,
  members: Members,
  name: string,
): Uint8Array {
  const resolved = resolveMember(source, members, name);
  const small = members.small.get(resolved);
  if (small) return small;
  const blob = members.blobs.get(resolved);
  if (!blob) {
    throw new ImageFormatError(
      source,
      `the manifest names ${JSON.stringify(name)}, which the archive does not contain`,
    );
  }
  const max = inputLimits().maxJsonBytes;
  if (blob.size > max) throw limitError(source, showName(resolved), blob.size, "maxJsonBytes", max);
  return members.sink.bytes(blob, `${source}: ${showName(resolved)}`);
}

/**
 * A layer from a blob taken by `sink`, its diff_id checked against the
 * config's (`expectedDiffId`). Decompressing a compressed layer counts
 * against `budget` when given (see `ExpansionBudget`).
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * import { type IngestedBlob, storeSink } from "../cache/ingest_blob.ts";
 * declare const blob: IngestedBlob;
 * const sink = storeSink(BlobStore.open());
 * const layer = await checkedLayer(sink, "./hello.tar", blob, undefined, "abc/layer.tar");
 * ```
 */
export async function checkedLayer(
  sink: BlobSink,
  source: string,
  blob: IngestedBlob,
  expectedDiffId: string | undefined,
  what: string,
  budget?: ExpansionBudget,
): Promise<Layer> {
  const diffId = await sink.diffId(blob, { what: `${source}: ${what}`, member: what, budget });
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

/**
 * An image read from an archive or layout, named `name:tag` ("" when the source names none).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * declare const store: BlobStore;
 * const config = new TextEncoder().encode('{"rootfs":{"type":"layers","diff_ids":[]}}');
 * readImageValue(store, config, [], { name: "hello", tag: "latest" }).tag; // "latest"
 * ```
 */
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
