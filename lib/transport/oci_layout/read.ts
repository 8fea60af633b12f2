/**
 * Reading an OCI image layout, from a folder or from an archive's members:
 * `index.json`, then the manifest (through nested indexes, choosing a linux
 * image, or the one tagged `tag`), the config and the layers, each checked
 * against its descriptor's digest and size.
 *
 * @module
 */

import { join } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import { type BlobSink, type IngestedBlob, storeSink } from "../../cache/ingest_blob.ts";
import { type Digest, digestOf, isDigest } from "../../codec/sha256.ts";
import {
  closeInputFile,
  inputFileStream,
  openInputFile,
  readInputFile,
} from "../../host/input_files.ts";
import { checkLimit, ExpansionBudget, inputLimits, limitError } from "../../host/input_limits.ts";
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
  platformName,
} from "../../model/platform.ts";
import { checkedLayer, type Members, readImageValue } from "../archive_members.ts";

interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string; variant?: string };
}

function descriptor(source: string, value: unknown, what: string): Descriptor {
  const d = value as Descriptor;
  if (
    !d || typeof d !== "object" || typeof d.digest !== "string" || !isDigest(d.digest) ||
    !Number.isSafeInteger(d.size) || d.size < 0
  ) {
    throw new ImageFormatError(
      source,
      `${what} is not a valid descriptor (needs a sha256 digest and a size)`,
    );
  }
  if (d.mediaType !== undefined && typeof d.mediaType !== "string") {
    throw new ImageFormatError(source, `${what}.mediaType must be a string`);
  }
  if (d.annotations !== undefined) {
    if (
      !d.annotations || typeof d.annotations !== "object" || Array.isArray(d.annotations) ||
      Object.values(d.annotations).some((v) => typeof v !== "string")
    ) {
      throw new ImageFormatError(source, `${what}.annotations must be an object of strings`);
    }
  }
  if (
    d.platform !== undefined &&
    (!d.platform || typeof d.platform !== "object" || Array.isArray(d.platform) ||
      (d.platform.architecture !== undefined && typeof d.platform.architecture !== "string") ||
      (d.platform.os !== undefined && typeof d.platform.os !== "string") ||
      (d.platform.variant !== undefined && typeof d.platform.variant !== "string"))
  ) {
    throw new ImageFormatError(source, `${what}.platform must be an object of strings`);
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

/**
 * The entry for `platform` among several (an index of images), else the
 * first linux one; with `strict` (a platform asked for), no fallback: an
 * error lists the platforms there are.
 */
function pickPlatform(
  source: string,
  candidates: Descriptor[],
  platform: Platform,
  strict: boolean,
): Descriptor {
  if (
    (candidates.length > 1 || strict) && candidates.some((d) => d.platform?.architecture)
  ) {
    try {
      return choosePlatform(candidates as PlatformDescriptor[], platform) as Descriptor;
    } catch {
      if (strict) {
        const there = candidates.map((d) => platformName(d.platform ?? {}));
        throw new ImageFormatError(
          source,
          `has no image for ${platformName(platform)} (it has: ${
            there.join(", ")
          }); ask for one of those`,
        );
      }
      // No entry for this machine: fall back to the first linux image, as before.
    }
  }
  const linux = candidates.filter((d) => !d.platform || d.platform.os === "linux");
  return linux[0] ?? candidates[0];
}

/** Indexes nested in indexes at most (an index may not list itself forever). */
const MAX_INDEX_DEPTH = 4;

/** Reads OCI blobs from archive members or a layout folder, verifying each against its descriptor. */
export interface OciBlobs {
  /** A small blob (a manifest, a config) of at most `maxJsonBytes`, checked. */
  bytes(d: Descriptor, what: string): Uint8Array;
  /** A blob taken by {@link OciBlobs.sink}, checked; `budget` counts what layers expand to. */
  blob(d: Descriptor, what: string, budget: ExpansionBudget): IngestedBlob | Promise<IngestedBlob>;
  /** Where the blobs go (the store, or inspect's scan). */
  sink: BlobSink;
  /** The expansion budget of the archive the blobs are in, if any. */
  budget?: ExpansionBudget;
}

/** Refuses a small blob over `maxJsonBytes` before it is read. */
function checkSmall(source: string, d: Descriptor, what: string, size = d.size): void {
  const max = inputLimits().maxJsonBytes;
  if (size > max) throw limitError(source, `${what} (blob ${d.digest})`, size, "maxJsonBytes", max);
}

/**
 * The image an OCI layout's `index.json` leads to (through nested indexes):
 * the one whose ref name is `tag`, for `platform` (strictly, when given),
 * its blobs read through `blobs` and checked.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { BlobStore } from "../../cache/blob_store.ts";
 * const store = BlobStore.open();
 * const index = readFileSync("./app.oci/index.json");
 * const image = await readOci(store, "./app.oci", ociLayoutBlobs(store, "./app.oci"), index, "app:1.0");
 * ```
 */
export async function readOci(
  store: BlobStore,
  source: string,
  blobs: OciBlobs,
  indexBytes: Uint8Array,
  tag: string | undefined,
  platform?: Platform,
): Promise<Image> {
  const limits = inputLimits();
  let index = parseJson(source, "index.json", indexBytes) as { manifests?: unknown[] };
  if (!index || typeof index !== "object" || Array.isArray(index)) {
    throw new ImageFormatError(source, "index.json is not a JSON object");
  }
  let refName: string | undefined;
  let fullName: string | undefined;
  let indexDigest: Digest | undefined; // of the nested index being read, when it is a blob
  let sourceIndex: Image["sourceIndex"];
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
    const pick = pickPlatform(
      source,
      chosen,
      platform ?? { os: "linux", architecture: hostArchitecture() },
      platform !== undefined,
    );
    const platforms = chosen.filter((d) => d.platform?.architecture).map((d) => ({
      os: d.platform!.os ?? "linux",
      architecture: d.platform!.architecture!,
      ...(d.platform!.variant ? { variant: d.platform!.variant } : {}),
    }));
    if (platforms.length > 1) {
      sourceIndex = { ...(indexDigest ? { digest: indexDigest } : {}), platforms };
    }
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
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
      throw new ImageFormatError(source, `manifest ${pick.digest} is not a JSON object`);
    }
    if (doc.mediaType !== undefined && typeof doc.mediaType !== "string") {
      throw new ImageFormatError(source, `manifest ${pick.digest}: mediaType must be a string`);
    }
    if (Array.isArray(doc.manifests)) {
      if (depth >= MAX_INDEX_DEPTH) {
        throw new ImageFormatError(
          source,
          `indexes are nested more than ${MAX_INDEX_DEPTH} deep (an index that lists itself?)`,
        );
      }
      index = doc;
      indexDigest = pick.digest;
      continue;
    }
    const configDesc = descriptor(source, doc.config, "manifest config");
    const configBytes = blobs.bytes(configDesc, "config");
    const diffIds =
      parseConfigFile(`${source}: config ${configDesc.digest}`, configBytes).rootfs.diff_ids;
    if (doc.layers !== undefined && !Array.isArray(doc.layers)) {
      throw new ImageFormatError(source, `manifest ${pick.digest}: layers must be a list`);
    }
    checkLimit(
      source,
      `manifest ${pick.digest} layers`,
      doc.layers?.length ?? 0,
      "maxLayers",
      limits,
    );
    const layerDescs = (doc.layers ?? []).map((l, i) =>
      descriptor(source, l, `manifest layers[${i}]`)
    );
    // What the layers may expand to, as a whole: a gzip or zstd bomb is refused while it is read.
    const budget = blobs.budget ??
      new ExpansionBudget(source, layerDescs.reduce((n, d) => n + d.size, 0), limits.maxExpansion);
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
      const blob = await blobs.blob(d, `layer ${i}`, budget);
      layers.push(
        await checkedLayer(blobs.sink, source, blob, diffIds[i], `layer ${d.digest}`, budget),
      );
    }
    return {
      ...readImageValue(store, configBytes, layers, nameOf(refName, fullName ?? undefined)),
      sourceManifest: {
        digest: pick.digest,
        mediaType: doc.mediaType ?? pick.mediaType ?? "",
        size: pick.size,
      },
      ...(sourceIndex ? { sourceIndex } : {}),
    };
  }
}

export function ociMemberBlobs(store: BlobStore, source: string, members: Members): OciBlobs {
  return {
    budget: members.budget,
    sink: members.sink,
    bytes(d, what) {
      const name = `blobs/sha256/${d.digest.slice(7)}`;
      checkSmall(source, d, what);
      const stored = members.blobs.get(name);
      if (stored) checkSmall(source, d, what, stored.size);
      const bytes = members.small.get(name) ??
        (stored ? members.sink.bytes(stored, `${source}: ${what}`) : undefined);
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

export function ociLayoutBlobs(
  store: BlobStore,
  dir: string,
  sink: BlobSink = storeSink(store),
): OciBlobs {
  const path = (d: Descriptor) => join(dir, "blobs", "sha256", d.digest.slice(7));
  const options = (d: Descriptor, what: string) => ({
    source: dir,
    member: `${what} (blob ${d.digest})`,
    within: dir,
  });
  return {
    sink,
    bytes(d, what) {
      checkSmall(dir, d, what);
      const bytes = readInputFile(path(d), {
        ...options(d, what),
        limit: inputLimits().maxJsonBytes,
      });
      if (digestOf(bytes) !== d.digest || bytes.length !== d.size) {
        throw new ImageFormatError(dir, `${what}: blob does not match its digest ${d.digest}`);
      }
      return bytes;
    },
    async blob(d, what, budget) {
      const file = openInputFile(path(d), options(d, what));
      if (file.size !== d.size) {
        closeInputFile(file);
        throw new ImageFormatError(
          dir,
          `${what}: blob ${d.digest} is ${file.size} bytes, but its descriptor says ${d.size}`,
        );
      }
      const stream = inputFileStream(file);
      try {
        return await sink.take(stream, {
          what: `${dir}: ${what}`,
          expected: { digest: d.digest, size: d.size },
          budget,
          member: `layer ${d.digest}`,
        });
      } finally {
        stream.destroy();
      }
    },
  };
}
