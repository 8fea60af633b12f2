/**
 * `mergeImages`: several images in one docker-archive, as Nix's (undocumented)
 * `dockerTools.mergeImages` makes it: the members of every input are united
 * by path (the first copy wins, so a layer shared by several images is stored
 * once), the `manifest.json` lists are concatenated (every tag stays
 * loadable), and `repositories` are merged. The result is compressed with the
 * compressor of the **last** input, as in Nix.
 *
 * Inputs may be docker-archive files (plain, gzip or zstd, from dockwright,
 * Nix, skopeo or `docker save`), image values (built in the same build), or
 * other `mergeImages` values.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createReadStream, statSync } from "node:fs";
import { basename, isAbsolute, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Compressor, COMPRESSOR_EXTENSION } from "../codec/compress.ts";
import { decompress, detectCompression } from "../codec/decompress.ts";
import { encodeImage } from "../transport/encode.ts";
import { ingestBlob } from "../cache/ingest_blob.ts";
import { ImageFormatError, parseJson } from "../model/errors.ts";
import { dockerArchiveEntries } from "../transport/docker_archive/write.ts";
import { SOURCE_DATE_EPOCH } from "../model/constants.ts";
import { writeTarFile } from "../transport/archive_file.ts";
import type { TarEntry } from "../tar/entry.ts";
import { inArchive } from "../tar/errors.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";
import { compareNames } from "../tree/file_tree.ts";
import { Artifact, type ArtifactResult } from "./artifact.ts";
import { splitNameTag } from "../model/reference.ts";
import { callerDirectory } from "./caller.ts";
import { AttributeError } from "./errors.ts";
import { type BuildContext, type ImageDefinition, isImageDefinition } from "./image_definition.ts";

/** What {@link mergeImages} accepts in its list. */
export type MergeInput = string | URL | ImageDefinition | Artifact;

/** dockwright's options of {@link mergeImages} (not in Nix). */
export interface MergeImagesOptions {
  /** Output file name. Default `merge-docker-images.tar[.gz|.zst]` (Nix's store name has no extension). */
  name?: string;
}

type ResolvedInput = { kind: "path"; path: string } | { kind: "image"; image: ImageDefinition } | {
  kind: "merge";
  merge: MergeImages;
};

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
async function archiveMembers(context: BuildContext, path: string): Promise<InputMembers> {
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
    await readArchive(context, path, out);
  } catch (error) {
    throw inArchive(error, path, "not a readable docker-archive");
  }
  return out;
}

async function readArchive(context: BuildContext, path: string, out: InputMembers): Promise<void> {
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
    const blob = await ingestBlob(context.store, body, { what: `${path}: ${name}` });
    out.entries.push({
      ...base,
      body: {
        kind: "stream",
        open: () => context.store.read(blob.digest),
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

/** Members of an image value, as its own docker-archive would hold them. */
async function imageMembers(context: BuildContext, image: ImageDefinition): Promise<InputMembers> {
  const resolved = await context.resolveImage(image);
  const built = await encodeImage(context.store, resolved, { kind: "tar" });
  const out: InputMembers = {
    entries: [],
    manifest: [],
    repositories: {},
    compressor: image.compressor,
  };
  for (const e of dockerArchiveEntries(context.store, [built])) {
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

class MergeImages extends Artifact {
  readonly builder = "mergeImages";
  readonly name: string;
  readonly #given: string | undefined;
  readonly #inputs: ResolvedInput[];

  constructor(images: unknown, options: MergeImagesOptions, baseDir: string) {
    super();
    if (!Array.isArray(images) || images.length === 0) {
      throw new AttributeError(
        "mergeImages",
        "images",
        "must be a non-empty list of image archives or image values",
      );
    }
    if (
      typeof options !== "object" || options === null ||
      Object.keys(options).some((k) => k !== "name")
    ) {
      throw new AttributeError("mergeImages", "options", "takes only { name }");
    }
    if (options.name !== undefined && (typeof options.name !== "string" || options.name === "")) {
      throw new AttributeError("mergeImages", "name", "must be a non-empty string");
    }
    this.#inputs = images.map((item, i): ResolvedInput => {
      if (typeof item === "string" && item !== "") {
        return { kind: "path", path: isAbsolute(item) ? item : resolve(baseDir, item) };
      }
      if (item instanceof URL && item.protocol === "file:") {
        return { kind: "path", path: fileURLToPath(item) };
      }
      if (isImageDefinition(item)) return { kind: "image", image: item };
      if (item instanceof MergeImages) return { kind: "merge", merge: item };
      throw new AttributeError(
        "mergeImages",
        `images[${i}]`,
        "must be the path of a docker-archive, an image value (buildImage(...), pullImage(...), ...) or a mergeImages value",
      );
    });
    this.#given = options.name;
    this.name = options.name ?? "merge-docker-images";
  }

  /** Every input's members, united: first copy of a path wins, manifests concatenated. */
  async members(context: BuildContext): Promise<InputMembers> {
    const byPath = new Map<string, TarEntry>();
    const all: InputMembers = { entries: [], manifest: [], repositories: {}, compressor: "none" };
    for (const input of this.#inputs) {
      const m = input.kind === "path"
        ? await archiveMembers(context, input.path)
        : input.kind === "image"
        ? await imageMembers(context, input.image)
        : await input.merge.members(context);
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

  async write(
    context: BuildContext,
    path: string | undefined,
    compressor: Compressor | undefined,
  ): Promise<ArtifactResult> {
    const merged = await this.members(context);
    const chosen = compressor ?? merged.compressor;
    const target = path ??
      resolve(this.#given ?? `${this.name}.tar${COMPRESSOR_EXTENSION[chosen]}`);
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
    context.progress.begin(`${basename(target)}: writing ${merged.manifest.length} image(s)`);
    await writeTarFile(target, entries, chosen, (n) => context.progress.add(n));
    context.progress.end();
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
    return {
      name: this.name,
      format: "docker-archive",
      path: target,
      compressor: chosen,
      size: statSync(target).size,
      images,
    };
  }
}

/**
 * Nix `dockerTools.mergeImages`: one docker-archive holding every image of
 * `images` (archive paths, image values, or other merges), each layer once,
 * every tag loadable (`podman load -i merged.tar`). Compressed like the last
 * input, as in Nix. A lazy value; building it writes the archive.
 *
 * @example
 * ```ts
 * import { buildImage, main, mergeImages } from "dockwright";
 * const a = buildImage({ name: "a", tag: "1" });
 * export default mergeImages([a, "./redis.tar.gz"]);
 * main(import.meta);
 * ```
 */
export function mergeImages(images: MergeInput[], options: MergeImagesOptions = {}): Artifact {
  return new MergeImages(images, options, callerDirectory());
}
