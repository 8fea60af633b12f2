/**
 * Several images in one docker-archive, as Nix's (undocumented)
 * `dockerTools.mergeImages` makes it: the members of every source are united
 * by path (the first copy wins, so a layer shared by several images is stored
 * once), the `manifest.json` lists are concatenated (every tag stays
 * loadable), and `repositories` are merged. Archives are read member by
 * member (names made safe, links kept inside); images are laid out as their
 * own docker-archive would hold them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createReadStream, statSync } from "node:fs";
import { basename, posix } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import { ingestBlob } from "../../cache/ingest_blob.ts";
import type { Compressor } from "../../codec/compress.ts";
import { decompress, detectCompression } from "../../codec/decompress.ts";
import { Progress } from "../../host/progress.ts";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";
import { ImageFormatError, parseJson } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { splitNameTag } from "../../model/reference.ts";
import type { TarEntry } from "../../tar/entry.ts";
import { inArchive } from "../../tar/errors.ts";
import { readTar } from "../../tar/reader.ts";
import { normalizeMemberPath } from "../../tar/safe_path.ts";
import { compareNames } from "../../tree/file_tree.ts";
import { writeTarFile } from "../archive_file.ts";
import { encodeImage } from "../encode.ts";
import { dockerArchiveEntries } from "./write.ts";

/** What goes into a merged archive. */
export type MergeSource =
  /** A docker-archive file (plain, gzip or zstd). */
  | { kind: "archive"; path: string }
  /** An image; `compressor` is what it would be written with (the last source's decides). */
  | { kind: "image"; image: Image; compressor: Compressor }
  /** Another merge's sources. */
  | { kind: "merge"; sources: MergeSource[] };

/** What {@link writeMergedArchive} wrote. */
export interface MergedArchive {
  path: string;
  compressor: Compressor;
  /** Every tag of the archive, with its image's config digest. */
  images: Array<{ name: string; tag: string; configDigest: string }>;
}

/** The members of one input, its manifest entries and its compressor. */
interface InputMembers {
  entries: TarEntry[];
  manifest: Record<string, unknown>[];
  repositories: Record<string, Record<string, string>>;
  compressor: Compressor;
}

const MEMBER_STYLE = { uid: 0, gid: 0, uname: "", gname: "", mtime: SOURCE_DATE_EPOCH };
const encoder = new TextEncoder();

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c.slice());
  return new Uint8Array(Buffer.concat(chunks));
}

/** Reads a docker-archive's members: file bodies go to the blob store, links are checked to stay inside. */
async function archiveMembers(store: BlobStore, path: string): Promise<InputMembers> {
  let head: Uint8Array = new Uint8Array();
  try {
    if (!statSync(path).isFile()) {
      throw new ImageFormatError(path, "is not a file: mergeImages takes docker-archive files");
    }
    for await (const chunk of createReadStream(path, { start: 0, end: 7 })) {
      head = chunk as Uint8Array;
      break;
    }
  } catch (error) {
    if (error instanceof ImageFormatError) throw error;
    throw new ImageFormatError(path, "no such file; check the mergeImages input path");
  }
  const kind = detectCompression(head);
  const out: InputMembers = {
    entries: [],
    manifest: [],
    repositories: {},
    compressor: kind === "gzip" ? "gz" : kind,
  };
  try {
    await readArchive(store, path, out);
  } catch (error) {
    throw inArchive(error, path, "not a readable docker-archive");
  }
  return out;
}

async function readArchive(store: BlobStore, path: string, out: InputMembers): Promise<void> {
  let manifest: unknown;
  for await (
    const { header, body } of readTar(
      decompress(createReadStream(path, { highWaterMark: 1 << 20 })),
    )
  ) {
    const name = normalizeMemberPath(header.path, { allowAbsolute: false });
    if (name === "") continue;
    const base = { ...header, ...MEMBER_STYLE, path: name };
    if (header.type === "symlink" || header.type === "hardlink") {
      const target = header.type === "symlink"
        ? posix.normalize(posix.join(posix.dirname(name), header.linkTarget ?? ""))
        : normalizeMemberPath(header.linkTarget ?? "", { allowAbsolute: false });
      if (target === ".." || target.startsWith("../") || target.startsWith("/")) {
        throw new ImageFormatError(
          path,
          `member ${name} links outside the archive (${header.linkTarget})`,
        );
      }
      out.entries.push({ ...base, size: 0 });
      continue;
    }
    if (header.type === "directory") {
      out.entries.push({ ...base, size: 0 });
      continue;
    }
    if (header.type !== "file") {
      throw new ImageFormatError(path, `member ${name} is a ${header.type}: not a docker-archive`);
    }
    if (name === "manifest.json" || name === "repositories") {
      const value = parseJson(path, name, await readAll(body));
      if (name === "manifest.json") manifest = value;
      else if (value && typeof value === "object") {
        out.repositories = value as Record<string, Record<string, string>>;
      }
      continue;
    }
    const blob = await ingestBlob(store, body, { what: `${path}: ${name}` });
    out.entries.push({
      ...base,
      body: {
        kind: "stream",
        open: () => store.read(blob.digest),
        fingerprint: blob.digest,
      },
    });
  }
  if (!Array.isArray(manifest) || manifest.some((m) => !m || typeof m !== "object")) {
    throw new ImageFormatError(
      path,
      "has no manifest.json list: mergeImages takes docker-archives (docker save, skopeo, Nix, dockwright)",
    );
  }
  out.manifest = manifest as Record<string, unknown>[];
}

/** Members of an image, as its own docker-archive would hold them. */
async function imageMembers(
  store: BlobStore,
  image: Image,
  compressor: Compressor,
): Promise<InputMembers> {
  const built = await encodeImage(store, image, { kind: "tar" });
  const out: InputMembers = {
    entries: [],
    manifest: [],
    repositories: {},
    compressor,
  };
  for (const e of dockerArchiveEntries(store, [built])) {
    if (e.path === "manifest.json" || e.path === "repositories") {
      const bytes = e.body?.kind === "bytes" ? e.body.bytes : new Uint8Array();
      const value = JSON.parse(new TextDecoder().decode(bytes));
      if (e.path === "manifest.json") out.manifest = value;
      else out.repositories = value;
      continue;
    }
    out.entries.push({ ...e, ...MEMBER_STYLE });
  }
  return out;
}

/** Every source's members, united: first copy of a path wins, manifests concatenated. */
async function unitedMembers(
  store: BlobStore,
  sources: readonly MergeSource[],
): Promise<InputMembers> {
  const byPath = new Map<string, TarEntry>();
  const all: InputMembers = { entries: [], manifest: [], repositories: {}, compressor: "none" };
  for (const source of sources) {
    const m = source.kind === "archive"
      ? await archiveMembers(store, source.path)
      : source.kind === "image"
      ? await imageMembers(store, source.image, source.compressor)
      : await unitedMembers(store, source.sources);
    for (const e of m.entries) if (!byPath.has(e.path)) byPath.set(e.path, e);
    all.manifest.push(...m.manifest);
    // Nix merges with jq's `add` (a repository of a later input replaces the earlier one);
    // merging tags too keeps every legacy entry.
    for (const [repo, tags] of Object.entries(m.repositories)) {
      all.repositories[repo] = { ...all.repositories[repo], ...tags };
    }
    all.compressor = m.compressor; // the last input decides, as in Nix
  }
  all.entries = [...byPath.values()];
  return all;
}

/**
 * Writes one docker-archive holding every image of `sources` (archives,
 * images, or nested merges) at the path `target` gives for the chosen
 * compressor: `compressor`, else the last source's, as Nix does.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import { COMPRESSOR_EXTENSION } from "../../codec/compress.ts";
 *
 * declare const store: BlobStore;
 * const merged = await writeMergedArchive(
 *   store,
 *   [{ kind: "archive", path: "./a.tar" }, { kind: "archive", path: "./b.tar.gz" }],
 *   (c) => `merged.tar${COMPRESSOR_EXTENSION[c]}`,
 * );
 * merged.path; // "merged.tar.gz": compressed like b.tar.gz, the last input
 * merged.images.map((i) => `${i.name}:${i.tag}`); // every tag of a.tar, then of b.tar.gz
 * ```
 */
export async function writeMergedArchive(
  store: BlobStore,
  sources: readonly MergeSource[],
  target: (compressor: Compressor) => string,
  compressor?: Compressor,
  progress: Progress = Progress.silent(),
): Promise<MergedArchive> {
  const merged = await unitedMembers(store, sources);
  const chosen = compressor ?? merged.compressor;
  const path = target(chosen);
  const json = (v: unknown) => encoder.encode(JSON.stringify(v, null, 2) + "\n");
  const file = (p: string, bytes: Uint8Array): TarEntry => ({
    path: p,
    type: "file",
    mode: 0o444,
    ...MEMBER_STYLE,
    size: bytes.length,
    body: { kind: "bytes", bytes },
  });
  const entries = [...merged.entries, file("manifest.json", json(merged.manifest))];
  if (Object.keys(merged.repositories).length > 0) {
    entries.push(file("repositories", json(merged.repositories)));
  }
  entries.sort((a, b) => compareNames(a.path, b.path));
  progress.begin(`${basename(path)}: writing ${merged.manifest.length} image(s)`);
  await writeTarFile(path, entries, chosen, (n) => progress.add(n));
  progress.end();
  const images = merged.manifest.flatMap((m) => {
    const tags = Array.isArray(m.RepoTags) ? m.RepoTags as string[] : [];
    const configDigest = typeof m.Config === "string"
      ? `sha256:${m.Config.replace(/^.*\//, "").replace(/\.json$/, "")}`
      : "";
    return tags.map((t) => {
      const { name, tag } = splitNameTag(t);
      return { name, tag: tag ?? "", configDigest };
    });
  });
  return { path, compressor: chosen, images };
}
