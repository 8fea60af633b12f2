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

import { constants, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BlobStore } from "../../cache/blob_store.ts";
import type { Digest } from "../../codec/sha256.ts";
import type { TarEntry } from "../../tar/entry.ts";
import type { EncodedImage, Image } from "../../model/image.ts";
import { indexDocument } from "../../model/image_index.ts";
import type { Compressor } from "../../codec/compress.ts";
import { encodeImages } from "../encode.ts";
import { type JsonBlob, ociManifest } from "../../model/manifest.ts";
import { OCI } from "../../model/media_types.ts";
import { writeAtomically } from "../../host/atomic.ts";
import { MemberFactory, writeTarFile } from "../archive_file.ts";
import { SOURCE_DATE_EPOCH } from "../../model/constants.ts";

/** The annotation that names a manifest's tag inside a layout. */
export const REF_NAME = "org.opencontainers.image.ref.name";

/** The file contents of a layout, before they are written anywhere. */
export interface LayoutPlan {
  ociLayout: Uint8Array;
  index: JsonBlob;
  manifests: JsonBlob[];
  /** Blobs to copy from the store (configs and layers), deduplicated, sorted by digest. */
  storeBlobs: Array<{ digest: Digest; size: number }>;
}

/**
 * Plans an OCI layout holding `images`.
 *
 * @example
 * ```ts
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
      annotations: { [REF_NAME]: image.tag },
    })),
    "oci",
  );
  const blobs = new Map<Digest, number>();
  for (const image of images) {
    blobs.set(image.config.digest, image.config.size);
    for (const layer of image.layers) blobs.set(layer.digest, layer.size);
  }
  return {
    ociLayout: new TextEncoder().encode(JSON.stringify({ imageLayoutVersion: "1.0.0" })),
    index,
    manifests,
    storeBlobs: [...blobs].map(([digest, size]) => ({ digest, size })).sort((a, b) =>
      a.digest < b.digest ? -1 : 1
    ),
  };
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
  await writeAtomically(target, (tmp) => {
    const blobDir = join(tmp, "blobs", "sha256");
    mkdirSync(blobDir, { recursive: true });
    writeFileSync(join(tmp, "oci-layout"), plan.ociLayout);
    for (const m of plan.manifests) writeFileSync(join(blobDir, m.digest.slice(7)), m.bytes);
    for (const b of plan.storeBlobs) {
      // Reflink where the file system can (instant, no extra space), plain copy otherwise.
      copyFileSync(
        store.blobPath(b.digest),
        join(blobDir, b.digest.slice(7)),
        constants.COPYFILE_FICLONE,
      );
    }
    writeFileSync(join(tmp, "index.json"), plan.index.bytes);
  });
  return { plan, images: encoded };
}

/**
 * The members of an OCI archive (the layout as one tar).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * declare const store: BlobStore;
 * declare const image: EncodedImage;
 * const { entries } = ociArchiveEntries(store, [image]);
 * ```
 */
export function ociArchiveEntries(
  store: BlobStore,
  images: readonly EncodedImage[],
): { entries: TarEntry[]; plan: LayoutPlan } {
  const plan = planOciLayout(images);
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
  const entries = [
    m.dir("blobs"),
    m.dir("blobs/sha256"),
    ...unique,
    m.bytes("index.json", plan.index.bytes),
    m.bytes("oci-layout", plan.ociLayout),
  ];
  return { entries, plan };
}

/**
 * Writes an OCI archive at `target`, atomically (layers as in {@link writeOciLayout}).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
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
  const { entries, plan } = ociArchiveEntries(store, encoded);
  await writeTarFile(target, entries, "none", onBytes);
  return { plan, images: encoded };
}
