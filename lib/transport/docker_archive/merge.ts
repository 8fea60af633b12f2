/**
 * Several images in one docker-archive, as Nix's (undocumented)
 * `dockerTools.mergeImages` makes it: the members of every source are united
 * by path (the first copy wins, so a layer shared by several images is stored
 * once), the `manifest.json` lists are concatenated (every tag stays
 * loadable), and `repositories` are merged. Archives are read by the reader
 * `fromImage` uses, and every image they list is checked as `fromImage`
 * checks its base (safe member names, links inside the archive, configs and
 * layers present and matching, the limits of `host/input_limits.ts`); images
 * are laid out as their own docker-archive would hold them. An input's
 * `index.json` and `oci-layout` (Docker 25+) are left out: they would
 * describe only that input.
 *
 * @module
 */

import { basename } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import type { Compressor } from "../../codec/compress.ts";
import { digestOf } from "../../codec/sha256.ts";
import { Progress } from "../../host/progress.ts";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";
import { ImageFormatError, parseJson } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { splitNameTag } from "../../model/reference.ts";
import type { TarEntry } from "../../tar/entry.ts";
import { inArchive } from "../../tar/errors.ts";
import { showName } from "../../tar/names.ts";
import { compareNames } from "../../tree/file_tree.ts";
import { readMembers, resolveMember } from "../archive_members.ts";
import { writeTarFile } from "../archive_file.ts";
import { encodeImage } from "../encode.ts";
import { dockerArchiveImage, dockerArchiveManifest } from "./read.ts";
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

/** The members of one input, its manifest entries, its images and its compressor. */
interface InputMembers {
  entries: TarEntry[];
  manifest: Record<string, unknown>[];
  repositories: Record<string, Record<string, string>>;
  compressor: Compressor;
  /** The config digest of each manifest entry. */
  configDigests: string[];
  /** Member paths the manifest entries name (configs and layers, through links), with their blob. */
  named: Map<string, string>;
  /** The input, for messages. */
  source: string;
}

const MEMBER_STYLE = { uid: 0, gid: 0, uname: "", gname: "", mtime: SOURCE_DATE_EPOCH };
const encoder = new TextEncoder();
/** Documents of the archive that the merged archive writes anew, or leaves out (an OCI index of one input). */
const REWRITTEN = new Set(["manifest.json", "repositories", "index.json", "oci-layout"]);

/** `repositories` checked: `{ "<name>": { "<tag>": "<layer id>" } }`. */
function parseRepositories(
  source: string,
  bytes: Uint8Array | undefined,
): Record<string, Record<string, string>> {
  if (!bytes) return {};
  const value = parseJson(source, "repositories", bytes);
  const ok = value && typeof value === "object" && !Array.isArray(value) &&
    Object.values(value).every((tags) =>
      tags && typeof tags === "object" && !Array.isArray(tags) &&
      Object.values(tags).every((id) => typeof id === "string")
    );
  if (!ok) {
    throw new ImageFormatError(
      source,
      'repositories must map names to { "<tag>": "<layer id>" } objects',
    );
  }
  return value as Record<string, Record<string, string>>;
}

/**
 * Reads a docker-archive with the reader `fromImage` uses, and checks every
 * image it lists as `fromImage` checks its first one: safe member names, no
 * link out of the archive or in a loop, every config and layer present and
 * matching, limits on sizes, counts and expansion.
 */
async function archiveMembers(store: BlobStore, path: string): Promise<InputMembers> {
  let members;
  try {
    members = await readMembers(store, path);
  } catch (error) {
    throw inArchive(error, path, "not a readable docker-archive");
  }
  if (!members.small.has("manifest.json")) {
    throw new ImageFormatError(
      path,
      "has no manifest.json: mergeImages takes docker-archives (docker save, skopeo, Nix, dockwright)",
    );
  }
  const manifest = dockerArchiveManifest(path, members);
  const configDigests: string[] = [];
  const named = new Map<string, string>();
  for (const entry of manifest) {
    const image = await dockerArchiveImage(store, path, members, entry);
    configDigests.push(image.config.digest);
    for (const name of [entry.Config, ...entry.Layers]) {
      const resolved = resolveMember(path, members, name);
      const blob = members.blobs.get(resolved);
      const bytes = members.small.get(resolved);
      if (blob) named.set(resolved, blob.digest);
      else if (bytes) named.set(resolved, digestOf(bytes));
    }
  }
  // Every link must lead to a member that is there (a dangling link would be copied as it is).
  for (const [name, target] of members.links) {
    const resolved = resolveMember(path, members, name);
    if (!members.entries.has(resolved) || members.links.has(resolved)) {
      throw new ImageFormatError(
        path,
        `member ${showName(name)} links to ${showName(target)}, which the archive does not contain`,
      );
    }
  }
  const entries: TarEntry[] = [];
  for (const e of members.entries.values()) {
    if (REWRITTEN.has(e.name)) continue;
    const base = { path: e.name, mode: e.mode & 0o7777, ...MEMBER_STYLE };
    if (e.type === "directory") entries.push({ ...base, type: "directory", size: 0 });
    else if (e.type === "symlink") {
      entries.push({ ...base, type: "symlink", size: 0, linkTarget: e.linkTarget });
    } else if (e.type === "hardlink") {
      entries.push({ ...base, type: "hardlink", size: 0, linkTarget: e.target });
    } else {
      const blob = members.blobs.get(e.name);
      const bytes = members.small.get(e.name);
      if (blob) {
        entries.push({
          ...base,
          type: "file",
          size: blob.size,
          body: {
            kind: "stream",
            open: () => store.read(blob.digest),
            fingerprint: blob.digest,
            file: store.blobPath(blob.digest),
          },
        });
      } else if (bytes) {
        entries.push({ ...base, type: "file", size: bytes.length, body: { kind: "bytes", bytes } });
      }
    }
  }
  return {
    entries,
    manifest: manifest as unknown as Record<string, unknown>[],
    repositories: parseRepositories(path, members.small.get("repositories")),
    compressor: members.compression === "gzip" ? "gz" : members.compression,
    configDigests,
    named,
    source: path,
  };
}

/** The digest of a file member's content: its blob's, or of its bytes. */
function bodyDigest(e: TarEntry): string | undefined {
  if (e.body?.kind === "stream") return e.body.fingerprint;
  if (e.body?.kind === "bytes") return digestOf(e.body.bytes);
  return undefined;
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
    configDigests: [],
    named: new Map(),
    source: image.repoName,
  };
  for (const e of dockerArchiveEntries(store, [built])) {
    if (e.path === "manifest.json" || e.path === "repositories") {
      const bytes = e.body?.kind === "bytes" ? e.body.bytes : new Uint8Array();
      const value = JSON.parse(new TextDecoder().decode(bytes));
      if (e.path === "manifest.json") {
        out.manifest = value;
        out.configDigests = value.map(() => image.config.digest);
      } else out.repositories = value;
      continue;
    }
    const digest = bodyDigest(e);
    if (digest) out.named.set(e.path, digest);
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
  const from = new Map<string, string>();
  const all: InputMembers = {
    entries: [],
    manifest: [],
    repositories: {},
    compressor: "none",
    configDigests: [],
    named: new Map(),
    source: "",
  };
  for (const source of sources) {
    const m = source.kind === "archive"
      ? await archiveMembers(store, source.path)
      : source.kind === "image"
      ? await imageMembers(store, source.image, source.compressor)
      : await unitedMembers(store, source.sources);
    for (const e of m.entries) {
      const first = byPath.get(e.path);
      if (!first) {
        byPath.set(e.path, e);
        from.set(e.path, m.source);
        continue;
      }
      // The first copy of a path wins: a member this input's images need must be the same.
      const needed = m.named.get(e.path);
      if (needed !== undefined && needed !== bodyDigest(first)) {
        throw new ImageFormatError(
          m.source,
          `member ${showName(e.path)} differs from the one of the same name in ${
            from.get(e.path)
          }; the merged archive can hold only one`,
        );
      }
    }
    for (const [path, digest] of m.named) all.named.set(path, digest);
    all.manifest.push(...m.manifest);
    all.configDigests.push(...m.configDigests);
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
  const images = merged.manifest.flatMap((m, i) => {
    const tags = Array.isArray(m.RepoTags) ? m.RepoTags as string[] : [];
    const configDigest = merged.configDigests[i];
    return tags.map((t) => {
      const { name, tag } = splitNameTag(t);
      return { name, tag: tag ?? "", configDigest };
    });
  });
  return { path, compressor: chosen, images };
}
