/**
 * Reading an OCI image layout, from a folder or from an archive's members:
 * `index.json`, then the manifest (through nested indexes, choosing a linux
 * image, or the one tagged `tag`), the config and the layers, each checked
 * against its descriptor's digest and size.
 *
 * @module
 */

import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import { ingestBlob, type IngestedBlob } from "../../cache/ingest_blob.ts";
import { type Digest, digestOf, isDigest } from "../../codec/sha256.ts";
import { ImageFormatError, parseJson } from "../../model/errors.ts";
import type { Image } from "../../model/image.ts";
import { parseConfigFile } from "../../model/image_config.ts";
import type { Layer } from "../../model/layer.ts";
import { compressorOfMediaType } from "../../model/media_types.ts";
import { splitNameTag } from "../../model/reference.ts";
import {
  choosePlatform,
  hostArchitecture,
  type Platform,
  type PlatformDescriptor,
} from "../../model/platform.ts";
import { checkedLayer, type Members, readImageValue, SMALL_LIMIT } from "../archive_members.ts";

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

/** The annotation naming a manifest in a layout: `name:tag` (as skopeo writes it) or only a tag. */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** The full image name containerd and BuildKit write (`docker.io/library/app:1.0`). */
export const CONTAINERD_NAME = "io.containerd.image.name";

/**
 * True when a layout's ref name answers to `wanted`: the same, or a
 * `name:tag` ref asked for by its tag alone.
 *
 * @example
 * ```ts
 * refNameMatches("hello:latest", "latest"); // true
 * refNameMatches("hello:latest", "hello:latest"); // true
 * refNameMatches("latest", "latest"); // true
 * ```
 */
export function refNameMatches(ref: string | undefined, wanted: string): boolean {
  if (ref === undefined) return false;
  return ref === wanted || (!wanted.includes(":") && splitNameTag(ref).tag === wanted);
}

/** The image's name from a layout's annotations: containerd's full name, else the ref name. */
function nameOf(refName: string | undefined, fullName: string | undefined): {
  name: string;
  tag?: string;
} {
  const ref = fullName ?? refName;
  if (!ref) return { name: "" };
  const split = splitNameTag(ref);
  // A ref of only a tag ("latest") names no repository.
  return split.tag === undefined && !ref.includes("/") && fullName === undefined
    ? { name: "", tag: ref }
    : split;
}

/** The entry for `platform` among several (an index of images), else the first linux one. */
function pickPlatform(candidates: Descriptor[], platform: Platform): Descriptor {
  if (candidates.length > 1 && candidates.some((d) => d.platform?.architecture)) {
    try {
      return choosePlatform(candidates as PlatformDescriptor[], platform) as Descriptor;
    } catch {
      // No entry for this machine: fall back to the first linux image, as before.
    }
  }
  const linux = candidates.filter((d) => !d.platform || d.platform.os === "linux");
  return linux[0] ?? candidates[0];
}

/** Reads OCI blobs from archive members or a layout folder, verifying each against its descriptor. */
export interface OciBlobs {
  bytes(d: Descriptor, what: string): Uint8Array;
  blob(d: Descriptor, what: string): IngestedBlob | Promise<IngestedBlob>;
}

export async function readOci(
  store: BlobStore,
  source: string,
  blobs: OciBlobs,
  indexBytes: Uint8Array,
  tag: string | undefined,
  platform: Platform = { os: "linux", architecture: hostArchitecture() },
): Promise<Image> {
  let index = parseJson(source, "index.json", indexBytes) as { manifests?: unknown[] };
  let refName: string | undefined;
  let fullName: string | undefined;
  for (let depth = 0;; depth++) {
    if (!Array.isArray(index.manifests) || index.manifests.length === 0) {
      throw new ImageFormatError(source, "index.json lists no manifests");
    }
    const candidates = index.manifests.map((m, i) =>
      descriptor(source, m, `index manifests[${i}]`)
    );
    let chosen = candidates;
    if (tag !== undefined && depth === 0) {
      chosen = candidates.filter((d) => refNameMatches(d.annotations?.[REF_NAME], tag));
      if (chosen.length === 0) {
        const names = candidates.map((d) => d.annotations?.[REF_NAME]).filter((n) => n);
        throw new ImageFormatError(
          source,
          `no image tagged ${JSON.stringify(tag)} in index.json (it has: ${
            names.join(", ") || "none"
          })`,
        );
      }
    }
    const pick = pickPlatform(chosen, platform);
    refName ??= pick.annotations?.[REF_NAME];
    fullName ??= pick.annotations?.[CONTAINERD_NAME];
    const doc = parseJson(
      source,
      `manifest ${pick.digest}`,
      blobs.bytes(pick, `manifest ${pick.digest}`),
    ) as {
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
    const diffIds =
      parseConfigFile(`${source}: config ${configDesc.digest}`, configBytes).rootfs.diff_ids;
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
    return {
      ...readImageValue(store, configBytes, layers, nameOf(refName, fullName ?? undefined)),
      sourceManifest: {
        digest: pick.digest,
        mediaType: doc.mediaType ?? pick.mediaType ?? "",
        size: pick.size,
      },
    };
  }
}

export function ociMemberBlobs(store: BlobStore, source: string, members: Members): OciBlobs {
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

export function ociLayoutBlobs(store: BlobStore, dir: string): OciBlobs {
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
