/**
 * Reading existing images (base images for `fromImage`): docker-archives
 * (plain, gzip or zstd, from `docker save`, skopeo, Nix or dockwright), OCI
 * archives and OCI layout folders. Layers land in the blob store; every
 * layer is checked against the config's diff_ids and every OCI blob against
 * its digest, so a corrupt or tampered archive is refused, not half used.
 *
 * Archive member names are sanitised (no absolute paths, no `..`), symlinked
 * members (old `docker save` links repeated layers) are resolved inside the
 * archive only, and nothing is ever extracted to disk.
 *
 * @module
 */

import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import type { BlobStore } from "../cache/blob_store.ts";
import { decompress } from "../codec/decompress.ts";
import { type Digest, digestOf, isDigest } from "../codec/sha256.ts";
import { inArchive } from "../tar/errors.ts";
import { readTar } from "../tar/reader.ts";
import { normalizeMemberPath } from "../tar/safe_path.ts";
import { diffIdOf, ingestBlob, type IngestedBlob } from "../cache/ingest_blob.ts";
import type { Layer } from "../model/layer.ts";
import type { Image } from "../model/image.ts";
import { ImageFormatError, parseJson } from "../model/errors.ts";
import { parseConfigFile } from "../model/image_config.ts";
import { splitNameTag } from "../model/reference.ts";
import { compressorOfMediaType } from "../model/media_types.ts";

export { ImageFormatError, parseJson };

/** Member files kept in memory (JSON documents); everything else goes to the store. */
const SMALL_LIMIT = 16 << 20;
const isMetadata = (path: string) =>
  path.endsWith(".json") || path === "repositories" || path === "oci-layout" ||
  path.endsWith("/VERSION");

interface Members {
  small: Map<string, Uint8Array>;
  blobs: Map<string, IngestedBlob>;
  links: Map<string, string>;
}

/** Reads every member of an archive: metadata into memory, blobs into the store. */
async function readMembers(store: BlobStore, path: string): Promise<Members> {
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

function resolveMember(source: string, members: Members, name: string): string {
  let current = normalizeMemberPath(name, { allowAbsolute: false });
  for (let hops = 0; members.links.has(current); hops++) {
    if (hops > 40) throw new ImageFormatError(source, `member ${name}: too many links`);
    current = members.links.get(current)!;
  }
  return current;
}

function blobMember(
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

async function checkedLayer(
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
function readImageValue(
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

async function fromDockerArchive(
  store: BlobStore,
  source: string,
  members: Members,
): Promise<Image> {
  const manifest = parseJson(source, "manifest.json", members.small.get("manifest.json")!);
  if (!Array.isArray(manifest) || manifest.length === 0 || typeof manifest[0] !== "object") {
    throw new ImageFormatError(source, "manifest.json is not a non-empty list of images");
  }
  // As Nix does: the first image of the archive is the base.
  const entry = manifest[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
  if (
    typeof entry.Config !== "string" || !Array.isArray(entry.Layers) ||
    entry.Layers.some((l) => typeof l !== "string")
  ) {
    throw new ImageFormatError(source, "manifest.json[0] needs a Config name and a list of Layers");
  }
  const configName = resolveMember(source, members, entry.Config);
  // Docker 25+ stores the config as blobs/sha256/<hex>, without .json.
  const configBlob = members.blobs.get(configName);
  const configBytes = members.small.get(configName) ??
    (configBlob && configBlob.size <= SMALL_LIMIT ? store.readBytes(configBlob.digest) : undefined);
  if (!configBytes) {
    throw new ImageFormatError(
      source,
      `manifest names config ${entry.Config}, which the archive does not contain`,
    );
  }
  const configDigest = digestOf(configBytes);
  const named = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(configName);
  if (named && named[1] !== configDigest.slice(7)) {
    throw new ImageFormatError(
      source,
      `config ${configName} does not match its name (sha256 ${configDigest.slice(7)})`,
    );
  }
  const config = parseConfigFile(`${source}: ${configName}`, configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw new ImageFormatError(
      source,
      `manifest lists ${entry.Layers.length} layers but the config has ${diffIds.length} diff_ids`,
    );
  }
  const layers: Layer[] = [];
  for (const [i, name] of (entry.Layers as string[]).entries()) {
    layers.push(
      await checkedLayer(store, source, blobMember(store, source, members, name), diffIds[i], name),
    );
  }
  const repoTags = Array.isArray(entry.RepoTags)
    ? entry.RepoTags.filter((t): t is string => typeof t === "string")
    : [];
  return readImageValue(
    store,
    configBytes,
    layers,
    repoTags.length > 0 ? splitNameTag(repoTags[0]) : { name: "" },
  );
}

interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string };
}

function descriptor(source: string, value: unknown, what: string): Descriptor {
  const d = value as Descriptor;
  if (
    !d || typeof d !== "object" || typeof d.digest !== "string" || !isDigest(d.digest) ||
    typeof d.size !== "number"
  ) {
    throw new ImageFormatError(
      source,
      `${what} is not a valid descriptor (needs a sha256 digest and a size)`,
    );
  }
  return d;
}

/** Reads OCI blobs from archive members or a layout folder, verifying each against its descriptor. */
interface OciBlobs {
  bytes(d: Descriptor, what: string): Uint8Array;
  blob(d: Descriptor, what: string): IngestedBlob | Promise<IngestedBlob>;
}

async function fromOci(
  store: BlobStore,
  source: string,
  blobs: OciBlobs,
  indexBytes: Uint8Array,
  tag: string | undefined,
): Promise<Image> {
  let index = parseJson(source, "index.json", indexBytes) as { manifests?: unknown[] };
  let refName: string | undefined;
  for (let depth = 0;; depth++) {
    if (!Array.isArray(index.manifests) || index.manifests.length === 0) {
      throw new ImageFormatError(source, "index.json lists no manifests");
    }
    const candidates = index.manifests.map((m, i) =>
      descriptor(source, m, `index manifests[${i}]`)
    );
    let chosen = candidates;
    if (tag !== undefined && depth === 0) {
      chosen = candidates.filter((d) =>
        d.annotations?.["org.opencontainers.image.ref.name"] === tag
      );
      if (chosen.length === 0) {
        throw new ImageFormatError(source, `no image tagged ${JSON.stringify(tag)} in index.json`);
      }
    }
    const linux = chosen.filter((d) => !d.platform || d.platform.os === "linux");
    const pick = linux[0] ?? chosen[0];
    refName ??= pick.annotations?.["org.opencontainers.image.ref.name"];
    const doc = parseJson(source, `manifest ${pick.digest}`, blobs.bytes(pick, `manifest ${pick.digest}`)) as {
      mediaType?: string;
      manifests?: unknown[];
      config?: unknown;
      layers?: unknown[];
    };
    if (Array.isArray(doc.manifests)) {
      if (depth > 4) throw new ImageFormatError(source, "indexes nested too deeply");
      index = doc;
      continue;
    }
    const configDesc = descriptor(source, doc.config, "manifest config");
    const configBytes = blobs.bytes(configDesc, "config");
    const diffIds = parseConfigFile(`${source}: config ${configDesc.digest}`, configBytes).rootfs.diff_ids;
    const layerDescs = (Array.isArray(doc.layers) ? doc.layers : []).map((l, i) =>
      descriptor(source, l, `manifest layers[${i}]`)
    );
    if (diffIds.length !== layerDescs.length) {
      throw new ImageFormatError(
        source,
        `manifest lists ${layerDescs.length} layers but the config has ${diffIds.length} diff_ids`,
      );
    }
    const layers: Layer[] = [];
    for (const [i, d] of layerDescs.entries()) {
      if (d.mediaType && !compressorOfMediaType(d.mediaType)) {
        throw new ImageFormatError(source, `layer ${i} has unsupported media type ${d.mediaType}`);
      }
      const blob = await blobs.blob(d, `layer ${i}`);
      layers.push(await checkedLayer(store, source, blob, diffIds[i], `layer ${d.digest}`));
    }
    // A full name (containerd, BuildKit, skopeo) or only the tag (the layout spec's ref name).
    const fullName = pick.annotations?.["io.containerd.image.name"];
    return readImageValue(
      store,
      configBytes,
      layers,
      fullName ? splitNameTag(fullName) : { name: "", tag: refName ?? "" },
    );
  }
}

function ociMemberBlobs(store: BlobStore, source: string, members: Members): OciBlobs {
  return {
    bytes(d, what) {
      const name = `blobs/sha256/${d.digest.slice(7)}`;
      const bytes = members.small.get(name) ??
        (members.blobs.has(name) ? store.readBytes(members.blobs.get(name)!.digest) : undefined);
      if (!bytes) throw new ImageFormatError(source, `${what}: blob ${d.digest} is missing`);
      if (digestOf(bytes) !== d.digest || bytes.length !== d.size) {
        throw new ImageFormatError(source, `${what}: blob does not match its digest ${d.digest}`);
      }
      return bytes;
    },
    blob(d, what) {
      const name = `blobs/sha256/${d.digest.slice(7)}`;
      const blob = members.blobs.get(name) ??
        (members.small.has(name)
          ? { ...store.putBytes(members.small.get(name)!), compressor: "none" as const }
          : undefined);
      if (!blob) throw new ImageFormatError(source, `${what}: blob ${d.digest} is missing`);
      if (blob.digest !== d.digest || blob.size !== d.size) {
        throw new ImageFormatError(
          source,
          `${what}: blob does not match its digest ${d.digest} and size ${d.size}`,
        );
      }
      return blob;
    },
  };
}

function ociLayoutBlobs(store: BlobStore, dir: string): OciBlobs {
  const path = (d: Descriptor) => join(dir, "blobs", "sha256", d.digest.slice(7));
  return {
    bytes(d, what) {
      if (!existsSync(path(d))) {
        throw new ImageFormatError(dir, `${what}: blob ${d.digest} is missing`);
      }
      if (statSync(path(d)).size > SMALL_LIMIT) {
        throw new ImageFormatError(dir, `${what}: blob is too large for JSON`);
      }
      const bytes = readFileSync(path(d));
      if (digestOf(bytes) !== d.digest || bytes.length !== d.size) {
        throw new ImageFormatError(dir, `${what}: blob does not match its digest ${d.digest}`);
      }
      return bytes;
    },
    async blob(d, what) {
      if (!existsSync(path(d))) {
        throw new ImageFormatError(dir, `${what}: blob ${d.digest} is missing`);
      }
      return await ingestBlob(store, createReadStream(path(d), { highWaterMark: 1 << 20 }), {
        what: `${dir}: ${what}`,
        expected: { digest: d.digest, size: d.size },
      });
    },
  };
}

/**
 * Reads the image at `path` (docker-archive, OCI archive, or OCI layout
 * folder) into the store. `tag` selects an image of an OCI index by its ref
 * name; docker-archives always give their first image, as Nix does.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../cache/blob_store.ts";
 * const base = await readImage(BlobStore.open(), "./debian.tar.gz");
 * base.layers.length; // 1
 * ```
 */
export async function readImage(store: BlobStore, path: string, tag?: string): Promise<Image> {
  if (!existsSync(path)) {
    throw new ImageFormatError(path, "no such file or folder; check the fromImage path");
  }
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, "index.json"))) {
      throw new ImageFormatError(path, "is a folder without index.json: not an OCI image layout");
    }
    return await fromOci(
      store,
      path,
      ociLayoutBlobs(store, path),
      readFileSync(join(path, "index.json")),
      tag,
    );
  }
  let members;
  try {
    members = await readMembers(store, path);
  } catch (error) {
    throw inArchive(error, path, "not a readable image archive");
  }
  if (members.small.has("manifest.json")) return await fromDockerArchive(store, path, members);
  if (members.small.has("index.json")) {
    return await fromOci(
      store,
      path,
      ociMemberBlobs(store, path, members),
      members.small.get("index.json")!,
      tag,
    );
  }
  throw new ImageFormatError(
    path,
    "is not an image archive: it has neither manifest.json (docker-archive) nor index.json (OCI)",
  );
}
