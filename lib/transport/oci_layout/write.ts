/**
 * OCI image layout sinks: a folder (`oci`) or the same folder as one tar
 * (`oci-archive`).
 *
 * ```
 * oci-layout                 {"imageLayoutVersion":"1.0.0"}
 * index.json                 one manifest descriptor per image, tagged with
 *                            org.opencontainers.image.ref.name = <tag>
 * blobs/sha256/<hex>         configs, manifests and layers (compressed per `compressor`)
 * ```
 *
 * @module
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import type { Digest } from "../../codec/sha256.ts";
import type { TarEntry } from "../../tar/entry.ts";
import type { EncodedImage, Image } from "../../model/image.ts";
import { type ImageIndex, indexDocument } from "../../model/image_index.ts";
import type { Platform } from "../../model/platform.ts";
import { CONTAINERD_NAME, REF_NAME } from "./read.ts";
import type { Compressor } from "../../codec/compress.ts";
import { encodeImage, encodeImages } from "../encode.ts";
import { type JsonBlob, ociManifest } from "../../model/manifest.ts";
import { OCI } from "../../model/media_types.ts";
import { writeAtomically } from "../../host/atomic.ts";
import { MemberFactory, writeTarFile } from "../archive_file.ts";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";

export { REF_NAME };

/**
 * The annotations that name an image in a layout so that loaders see
 * `name:tag`: the ref name as skopeo writes it (`hello:latest`; `podman load`
 * names the image `localhost/hello:latest` after it, as for a docker-archive),
 * and for a name with a registry host also containerd's full name
 * (`registry.example.com/team/app:1.0`, which `ctr import` and podman use as
 * it is). An unnamed image gets its tag alone.
 *
 * @example
 * ```ts
 * layoutAnnotations({ repoName: "hello", tag: "latest" });
 * // { "org.opencontainers.image.ref.name": "hello:latest" }
 * layoutAnnotations({ repoName: "127.0.0.1:5000/app", tag: "1" });
 * // { "org.opencontainers.image.ref.name": "127.0.0.1:5000/app:1", "io.containerd.image.name": "127.0.0.1:5000/app:1" }
 * ```
 */
export function layoutAnnotations(image: Pick<Image, "repoName" | "tag">): Record<string, string> {
  const tag = image.tag || "latest";
  if (!image.repoName) return { [REF_NAME]: tag };
  const name = `${image.repoName}:${tag}`;
  const first = image.repoName.split("/")[0];
  const hasHost = image.repoName.includes("/") && (/[.:]/.test(first) || first === "localhost");
  // A short name stays short: containerd's full form (docker.io/library/...) would make podman
  // name it docker.io/library/hello instead of localhost/hello.
  return hasHost ? { [REF_NAME]: name, [CONTAINERD_NAME]: name } : { [REF_NAME]: name };
}

/** The file contents of a layout, before they are written anywhere. */
export interface LayoutPlan {
  ociLayout: Uint8Array;
  index: JsonBlob;
  /** Manifests (and nested image indexes) written as blobs; for images, one per image in order. */
  manifests: JsonBlob[];
  /** Blobs to copy from the store (configs and layers), deduplicated, sorted by digest. */
  storeBlobs: Array<{ digest: Digest; size: number }>;
}

/** An image index whose images have their layer encodings, as a layout holds it. */
export interface EncodedIndex {
  /** The name and tag the index is known by. */
  repoName: string;
  tag: string;
  manifests: Array<{ image: EncodedImage; platform: Platform }>;
}

function storeBlobsOf(images: readonly EncodedImage[]): LayoutPlan["storeBlobs"] {
  const blobs = new Map<Digest, number>();
  for (const image of images) {
    blobs.set(image.config.digest, image.config.size);
    for (const layer of image.layers) blobs.set(layer.digest, layer.size);
  }
  return [...blobs].map(([digest, size]) => ({ digest, size })).sort((a, b) =>
    a.digest < b.digest ? -1 : 1
  );
}

const OCI_LAYOUT = new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

/**
 * Plans an OCI layout holding `images`, each named in `index.json`.
 *
 * @example
 * ```ts
 * import type { EncodedImage } from "../../model/image.ts";
 *
 * declare const image: EncodedImage;
 * const plan = planOciLayout([image]);
 * plan.manifests[0].digest; // the manifest digest
 * ```
 */
export function planOciLayout(images: readonly EncodedImage[]): LayoutPlan {
  const manifests = images.map(ociManifest);
  const index = indexDocument(
    images.map((image, i) => ({
      mediaType: OCI.manifest,
      digest: manifests[i].digest,
      size: manifests[i].size,
      annotations: layoutAnnotations(image),
    })),
    "oci",
  );
  return { ociLayout: OCI_LAYOUT, index, manifests, storeBlobs: storeBlobsOf(images) };
}

/**
 * Plans an OCI layout holding one multi-platform image: `index.json` names an
 * image index blob, which lists each image's manifest with its platform (as
 * skopeo and BuildKit lay out a multi-arch image).
 *
 * @example
 * ```ts
 * declare const index: EncodedIndex;
 * const plan = planOciIndexLayout(index);
 * plan.manifests.at(-1)!.mediaType; // "application/vnd.oci.image.index.v1+json"
 * ```
 */
export function planOciIndexLayout(index: EncodedIndex): LayoutPlan {
  const manifests = index.manifests.map((m) => ociManifest(m.image));
  const nested = indexDocument(
    index.manifests.map((m, i) => ({
      mediaType: OCI.manifest,
      digest: manifests[i].digest,
      size: manifests[i].size,
      platform: m.platform,
    })),
    "oci",
  );
  const top = indexDocument(
    [{
      mediaType: OCI.index,
      digest: nested.digest,
      size: nested.size,
      annotations: layoutAnnotations(index),
    }],
    "oci",
  );
  return {
    ociLayout: OCI_LAYOUT,
    index: top,
    manifests: [...manifests, nested],
    storeBlobs: storeBlobsOf(index.manifests.map((m) => m.image)),
  };
}

/** Writes a planned layout as a folder at `target`, replacing it atomically. */
async function writeLayoutFolder(
  store: BlobStore,
  plan: LayoutPlan,
  target: string,
): Promise<void> {
  await writeAtomically(target, (tmp) => {
    const blobDir = join(tmp, "blobs", "sha256");
    mkdirSync(blobDir, { recursive: true });
    writeFileSync(join(tmp, "oci-layout"), plan.ociLayout);
    for (const m of plan.manifests) writeFileSync(join(blobDir, m.digest.slice(7)), m.bytes);
    // Hard links to the store's read-only blobs where that is safe: a layout's
    // blobs are named by their digest and no tool writes to one in place. Copies
    // (reflinks where the file system can) otherwise; see BlobStore.place.
    for (const b of plan.storeBlobs) store.place(b.digest, join(blobDir, b.digest.slice(7)));
    writeFileSync(join(tmp, "index.json"), plan.index.bytes);
  });
}

/** What an OCI writer wrote: the layout's files and the images with their layer encodings. */
export interface WrittenLayout {
  plan: LayoutPlan;
  images: EncodedImage[];
}

/**
 * Writes an OCI layout folder at `target`, replacing it atomically. Layers
 * built here are written compressed with `compressor`; a base layer keeps
 * its own compression.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image;
 * const { plan } = await writeOciLayout(store, [image], "hello.oci", "zstd");
 * plan.manifests[0].digest;
 * ```
 */
export async function writeOciLayout(
  store: BlobStore,
  images: readonly Image[],
  target: string,
  compressor: Compressor,
): Promise<WrittenLayout> {
  const encoded = await encodeImages(store, images, { kind: "oci", compressor });
  const plan = planOciLayout(encoded);
  await writeLayoutFolder(store, plan, target);
  return { plan, images: encoded };
}

/**
 * The members of an OCI archive (a planned layout as one tar).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { EncodedImage } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: EncodedImage;
 * const entries = ociArchiveEntries(store, planOciLayout([image]));
 * ```
 */
export function ociArchiveEntries(store: BlobStore, plan: LayoutPlan): TarEntry[] {
  const m = new MemberFactory({ fileMode: 0o644, dirMode: 0o755, mtime: SOURCE_DATE_EPOCH });
  const blobs: TarEntry[] = [
    ...plan.manifests.map((j) => m.bytes(`blobs/sha256/${j.digest.slice(7)}`, j.bytes)),
    ...plan.storeBlobs.map((b) =>
      m.blob(`blobs/sha256/${b.digest.slice(7)}`, store, b.digest, b.size)
    ),
  ];
  const unique = [...new Map(blobs.map((e) => [e.path, e])).values()].sort((a, b) =>
    a.path < b.path ? -1 : 1
  );
  return [
    m.dir("blobs"),
    m.dir("blobs/sha256"),
    ...unique,
    m.bytes("index.json", plan.index.bytes),
    m.bytes("oci-layout", plan.ociLayout),
  ];
}

/**
 * Writes an OCI archive at `target`, atomically (layers as in {@link writeOciLayout}).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image;
 * await writeOciArchive(store, [image], "hello.oci.tar", "gz");
 * ```
 */
export async function writeOciArchive(
  store: BlobStore,
  images: readonly Image[],
  target: string,
  compressor: Compressor,
  onBytes?: (n: number) => void,
): Promise<WrittenLayout> {
  const encoded = await encodeImages(store, images, { kind: "oci", compressor });
  const plan = planOciLayout(encoded);
  await writeTarFile(target, ociArchiveEntries(store, plan), "none", onBytes);
  return { plan, images: encoded };
}

/**
 * Writes a multi-platform image as an OCI layout folder (`archive: false`)
 * or OCI archive at `target`, atomically; layers as in {@link writeOciLayout}.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { ImageIndex } from "../../model/image_index.ts";
 * declare const store: BlobStore;
 * declare const index: ImageIndex;
 * const { plan } = await writeOciIndex(store, { ...index, repoName: "app", tag: "1.0" }, "app.oci", "gz", false);
 * plan.index.digest;
 * ```
 */
export async function writeOciIndex(
  store: BlobStore,
  index: ImageIndex & { repoName: string; tag: string },
  target: string,
  compressor: Compressor,
  archive: boolean,
  onBytes?: (n: number) => void,
): Promise<{ plan: LayoutPlan; index: EncodedIndex }> {
  const manifests = [];
  for (const m of index.manifests) {
    manifests.push({ ...m, image: await encodeImage(store, m.image, { kind: "oci", compressor }) });
  }
  const encoded: EncodedIndex = { repoName: index.repoName, tag: index.tag, manifests };
  const plan = planOciIndexLayout(encoded);
  if (archive) await writeTarFile(target, ociArchiveEntries(store, plan), "none", onBytes);
  else await writeLayoutFolder(store, plan, target);
  return { plan, index: encoded };
}
