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
