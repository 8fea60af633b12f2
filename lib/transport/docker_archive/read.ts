/**
 * Reading a docker-archive (`docker save`, `podman save`, skopeo, Nix or
 * dockwright; Docker 25+ archives keep the config at `blobs/sha256/<hex>`).
 * As Nix does, the first image of the archive is read; every layer is checked
 * against the config's diff_ids. `mergeImages` checks every image of its
 * inputs with the same functions ({@link dockerArchiveManifest},
 * {@link dockerArchiveImage}).
 *
 * @module
 */

import type { BlobStore } from "../../cache/blob_store.ts";
import { digestOf } from "../../codec/sha256.ts";
import { checkLimit, inputLimits } from "../../host/input_limits.ts";
import { ImageFormatError, parseJson } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { parseConfigFile } from "../../model/image_config.ts";
import type { Layer } from "../../model/layer.ts";
import { isRepositoryName, isValidTag, splitNameTag } from "../../model/reference.ts";
import { refNameMatches } from "../oci_layout/read.ts";
import { TarError } from "../../tar/errors.ts";
import { normalizeMemberPath } from "../../tar/safe_path.ts";
import {
  blobMember,
  checkedLayer,
  documentMember,
  type Members,
  readImageValue,
  resolveMember,
} from "../archive_members.ts";

/**
 * One image of a docker-archive's `manifest.json`, its fields checked.
 *
 * @example
 * ```ts
 * const entry: ManifestEntry = { Config: "abc.json", RepoTags: ["hello:latest"], Layers: ["1/layer.tar"] };
 * ```
 */
export interface ManifestEntry {
  /** The config member. */
  Config: string;
  /** `name:tag` references (`null` when the image was saved by id). */
  RepoTags: string[] | null;
  /** The layer members, bottom first. */
  Layers: string[];
  /** Docker's foreign-layer sources, kept as they are. */
  LayerSources?: Record<string, unknown>;
}

/** A member name of the manifest, made safe, or an error naming the field. */
function memberName(source: string, field: string, value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw new ImageFormatError(source, `${field} must be the name of a member of the archive`);
  }
  try {
    return normalizeMemberPath(value, { allowAbsolute: false });
  } catch (error) {
    if (!(error instanceof TarError)) throw error;
    throw new ImageFormatError(
      source,
      `${field} names ${
        JSON.stringify(value.length > 200 ? value.slice(0, 200) + "..." : value)
      }, which is not a member name of the archive (absolute, "..", NUL or too long)`,
    );
  }
}

/**
 * Every image `manifest.json` lists, each field checked: `Config` and
 * `Layers` name safe members (never `../x`, `/x` or a name with NUL), there
 * are at most `maxLayers` layers, and `RepoTags` are `name:tag` references.
 * An `ImageFormatError` (or an `InputError` for a limit) names the field.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../../cache/blob_store.ts";
 * import { readMembers } from "../archive_members.ts";
 * const store = BlobStore.open();
 * const entries = dockerArchiveManifest("./hello.tar", await readMembers(store, "./hello.tar"));
 * entries[0].RepoTags; // ["hello:latest"]
 * ```
 */
export function dockerArchiveManifest(source: string, members: Members): ManifestEntry[] {
  const bytes = members.small.get("manifest.json");
  if (!bytes) throw new ImageFormatError(source, "has no manifest.json: not a docker-archive");
  const manifest = parseJson(source, "manifest.json", bytes);
  if (!Array.isArray(manifest) || manifest.length === 0) {
    throw new ImageFormatError(source, "manifest.json is not a non-empty list of images");
  }
  const limits = inputLimits();
  return manifest.map((value, i): ManifestEntry => {
    const at = `manifest.json[${i}]`;
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new ImageFormatError(source, `${at} is not an object`);
    }
    const entry = value as Record<string, unknown>;
    const config = memberName(source, `${at}.Config`, entry.Config);
    if (!Array.isArray(entry.Layers)) {
      throw new ImageFormatError(source, `${at}.Layers must be a list of member names`);
    }
    checkLimit(source, `${at}.Layers`, entry.Layers.length, "maxLayers", limits);
    const layers = entry.Layers.map((l, j) => memberName(source, `${at}.Layers[${j}]`, l));
    let repoTags: string[] | null = null;
    if (entry.RepoTags !== undefined && entry.RepoTags !== null) {
      if (!Array.isArray(entry.RepoTags)) {
        throw new ImageFormatError(source, `${at}.RepoTags must be a list of name:tag strings`);
      }
      repoTags = entry.RepoTags.map((t, j) => {
        const { name, tag } = typeof t === "string" ? splitNameTag(t) : { name: "" };
        if (
          typeof t !== "string" || !isRepositoryName(name) ||
          (tag !== undefined && !isValidTag(tag))
        ) {
          throw new ImageFormatError(
            source,
            `${at}.RepoTags[${j}] (${
              JSON.stringify(t)?.slice(0, 200)
            }) is not a name:tag reference (lowercase name, tag of [A-Za-z0-9_.-])`,
          );
        }
        return t;
      });
    }
    const out: ManifestEntry = { Config: config, RepoTags: repoTags, Layers: layers };
    if (entry.LayerSources !== undefined) {
      if (
        !entry.LayerSources || typeof entry.LayerSources !== "object" ||
        Array.isArray(entry.LayerSources)
      ) {
        throw new ImageFormatError(source, `${at}.LayerSources must be an object`);
      }
      out.LayerSources = entry.LayerSources as Record<string, unknown>;
    }
    return out;
  });
}

/**
 * The image of one manifest entry: its config read and checked field by
 * field (and against its name, when it is named after its digest), every
 * layer checked against the config's diff_ids.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../../cache/blob_store.ts";
 * import { readMembers } from "../archive_members.ts";
 * const store = BlobStore.open();
 * const members = await readMembers(store, "./two-images.tar");
 * for (const entry of dockerArchiveManifest("./two-images.tar", members)) {
 *   const image = await dockerArchiveImage(store, "./two-images.tar", members, entry);
 *   console.log(image.repoName, image.layers.length);
 * }
 * ```
 */
export async function dockerArchiveImage(
  store: BlobStore,
  source: string,
  members: Members,
  entry: ManifestEntry,
): Promise<Image> {
  const configName = resolveMember(source, members, entry.Config);
  const configBytes = documentMember(source, members, entry.Config);
  const configDigest = digestOf(configBytes);
  // Docker 25+ stores the config as blobs/sha256/<hex>, without .json.
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
      `the manifest lists ${entry.Layers.length} layers but the config has ${diffIds.length} diff_ids`,
    );
  }
  const layers: Layer[] = [];
  const checked = new Map<string, Layer>();
  for (const [i, name] of entry.Layers.entries()) {
    const key = `${resolveMember(source, members, name)}\n${diffIds[i]}`;
    let layer = checked.get(key);
    if (!layer) {
      const blob = blobMember(store, source, members, name);
      layer = await checkedLayer(members.sink, source, blob, diffIds[i], name, members.budget);
      checked.set(key, layer);
    }
    layers.push(layer);
  }
  const repoTags = entry.RepoTags ?? [];
  return readImageValue(
    store,
    configBytes,
    layers,
    repoTags.length > 0 ? splitNameTag(repoTags[0]) : { name: "" },
  );
}

/**
 * An image of a docker-archive whose members are read: the first, as Nix
 * takes it, or the one `ref` names, as skopeo's `docker-archive:PATH:REF`
 * does: a `name:tag` of its `RepoTags` (or a tag alone), or `@N`, the N-th
 * image (from 0).
 *
 * @example
 * ```ts
 * import { BlobStore } from "../../cache/blob_store.ts";
 * import { readMembers } from "../archive_members.ts";
 * const store = BlobStore.open();
 * const members = await readMembers(store, "./two.tar");
 * const first = await readDockerArchive(store, "./two.tar", members);
 * const api = await readDockerArchive(store, "./two.tar", members, "api:1.0");
 * const second = await readDockerArchive(store, "./two.tar", members, "@1");
 * ```
 */
export async function readDockerArchive(
  store: BlobStore,
  source: string,
  members: Members,
  ref?: string,
): Promise<Image> {
  const entries = dockerArchiveManifest(source, members);
  if (ref === undefined) return await dockerArchiveImage(store, source, members, entries[0]);
  const index = /^@(\d+)$/.exec(ref);
  const entry = index
    ? entries[Number(index[1])]
    : entries.find((e) => (e.RepoTags ?? []).some((t) => refNameMatches(t, ref)));
  if (!entry) {
    const names = entries.map((e, i) => (e.RepoTags ?? []).join(", ") || `@${i}`);
    throw new ImageFormatError(
      source,
      `has no image ${JSON.stringify(ref)} (it has: ${names.join("; ")})`,
    );
  }
  return await dockerArchiveImage(store, source, members, entry);
}
