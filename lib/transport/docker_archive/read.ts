/**
 * Reading a docker-archive (`docker save`, `podman save`, skopeo, Nix or
 * dockwright; Docker 25+ archives keep the config at `blobs/sha256/<hex>`).
 * As Nix does, the first image of the archive is read; every layer is checked
 * against the config's diff_ids.
 *
 * @module
 */

import type { BlobStore } from "../../cache/blob_store.ts";
import { digestOf } from "../../codec/sha256.ts";
import { ImageFormatError, parseJson } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { parseConfigFile } from "../../model/image_config.ts";
import type { Layer } from "../../model/layer.ts";
import { splitNameTag } from "../../model/reference.ts";
import {
  blobMember,
  checkedLayer,
  type Members,
  readImageValue,
  resolveMember,
  SMALL_LIMIT,
} from "../archive_members.ts";

/**
 * The first image of a docker-archive whose members are read.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../../cache/blob_store.ts";
 * import { readMembers } from "../archive_members.ts";
 * const store = BlobStore.open();
 * const image = await readDockerArchive(store, "./hello.tar", await readMembers(store, "./hello.tar"));
 * ```
 */
export async function readDockerArchive(
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
