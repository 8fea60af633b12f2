/**
 * Pushing images to a registry: layers, then the config, then the manifest
 * (the manifest names both, and registries refuse manifests whose blobs are
 * missing).
 *
 * For each blob: `HEAD` first (a blob the repository has is skipped); then a
 * cross-repository mount when the store's record says another repository of
 * the same registry holds it; else an upload: `POST` then one `PUT` with the
 * bytes for blobs up to `chunkSize` (distribution ignores a body on the
 * `POST`), `PATCH` chunks with `Content-Range` then an empty `PUT` above.
 * Chunks are read from the store one `Uint8Array` at a time, which gives an
 * exact `Content-Length` on both runtimes (Deno sends a streamed body chunked,
 * whatever `Content-Length` says) and keeps memory at `chunkSize` per upload.
 * A failed upload (5xx, 429, dropped connection) is retried with backoff from
 * a new upload session, after a `HEAD` that makes sure a blob the registry
 * did finish is never sent again.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { Buffer } from "node:buffer";
import type { BlobStore } from "../../cache/blob_store.ts";
import type { Compressor } from "../../codec/compress.ts";
import type { Digest } from "../../codec/sha256.ts";
import { encodeLayer } from "../../cache/layer_encodings.ts";
import type { EncodedImage, Image } from "../../model/image.ts";
import { checkPlatformsDistinct, type ImageIndex, indexDocument } from "../../model/image_index.ts";
import { dockerManifest, type JsonBlob, ociManifest } from "../../model/manifest.ts";
import { DOCKER, OCI } from "../../model/media_types.ts";
import { Progress } from "../../host/progress.ts";
import { encodeImage } from "../encode.ts";
import { blobLocations, rememberBlobLocation } from "./blob_locations.ts";
import { isRetryableStatus, RegistryClient, type RegistryOptions } from "./client.ts";
import { findCredentials } from "./credentials.ts";
import { describeFailure, RegistryError } from "./errors.ts";
import { mapLimit } from "../../host/map_limit.ts";
import { formatReference, type ImageReference } from "../../model/reference.ts";

/** Manifest formats a push can write. */
export const MANIFEST_FORMATS = ["oci", "docker"] as const;

/** `oci` (OCI image manifest, the default) or `docker` (Docker schema 2, for registries that only take that). */
export type ManifestFormat = typeof MANIFEST_FORMATS[number];

/** Options of a push (`push`, `pushIndex`, {@link pushImage}, {@link pushImageIndex}). */
export interface PushOptions extends RegistryOptions {
  /** Layer compression. Default: the image's `compressor` (`gz` unless the image says otherwise). */
  compressor?: Compressor;
  /** Default `"oci"`. `"docker"` needs `gz` or `none` layers. */
  manifestFormat?: ManifestFormat;
  /** Blob cache. Default: as for `build`. */
  cacheDir?: string;
  /** Progress on stderr. Default: on when stderr is a terminal and CI is unset. */
  progress?: boolean;
  /** Blobs larger than this are uploaded in `PATCH` chunks of this size. Default 32 MiB. */
  chunkSize?: number;
  /** Blobs uploaded at once. Default 3. */
  concurrency?: number;
}

/** One pushed layer. */
export interface PushedLayer {
  /** Digest of the blob as pushed (compressed per the push's `compressor`, or a base layer's own). */
  digest: string;
  /** sha256 of the layer's uncompressed tar. */
  diffId: string;
  /** Byte size of the blob as pushed. */
  size: number;
  /** The layer's media type in the manifest. */
  mediaType: string;
}

/** What a push of one image did. */
export interface PushResult {
  /** The image's name (as a build would write it). */
  name: string;
  /** The image's tag (as a build would write it). */
  tag: string;
  /** Where it went: `registry/repository:tag` (or `@digest` when pushed by digest). */
  reference: string;
  /** The manifest digest the registry now serves. */
  manifestDigest: string;
  /** The manifest's media type (OCI image manifest or Docker schema 2). */
  mediaType: string;
  /** Byte size of the manifest. */
  size: number;
  /** Digest of the image config. */
  configDigest: string;
  /** The layers, bottom first. */
  layers: PushedLayer[];
  /** How the blobs (layers and config) got there. */
  blobs: { uploaded: number; mounted: number; existing: number };
}

/** What a push of an index did. */
export interface PushIndexResult {
  /** Where the index went: `registry/repository:tag`. */
  reference: string;
  /** Digest of the index (or manifest list). */
  manifestDigest: string;
  /** The index's media type (OCI image index or Docker manifest list). */
  mediaType: string;
  /** One result per image, pushed by digest. */
  manifests: Array<
    PushResult & { platform: { os: string; architecture: string; variant?: string } }
  >;
}

const DEFAULT_CHUNK = 32 << 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads `length` bytes at `offset` of a stored blob. */
async function readRange(
  store: BlobStore,
  digest: Digest,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const handle = await open(store.blobPath(digest), "r");
  try {
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new Error(
          `blob ${digest} in ${store.root} is shorter than expected; delete the cache folder and rebuild`,
        );
      }
      done += bytesRead;
    }
    return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
  } finally {
    await handle.close();
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof RegistryError &&
    (error.status === undefined || isRetryableStatus(error.status));
}

type BlobOutcome = "uploaded" | "mounted" | "existing";

/** Uploads blobs to one repository. */
class Uploader {
  readonly where: string;
  constructor(
    readonly store: BlobStore,
    readonly client: RegistryClient,
    readonly ref: ImageReference,
    readonly options: PushOptions,
    readonly progress: Progress,
  ) {
    this.where = `${ref.registry}/${ref.repository}`;
  }

  get #blobs(): string {
    return `/v2/${this.ref.repository}/blobs`;
  }

  async exists(digest: Digest): Promise<boolean> {
    const response = await this.client.request("HEAD", `${this.#blobs}/${digest}`, {
      what: `blob ${digest}`,
    });
    await response.body?.cancel();
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new RegistryError(
      `${this.where}: checking for blob ${digest} failed: HTTP ${response.status}`,
      response.status,
    );
  }

  async blob(digest: Digest, size: number, what: string): Promise<BlobOutcome> {
    if (await this.exists(digest)) return "existing";
    let location: string | undefined;
    for (
      const from of blobLocations(this.store, digest, this.ref.registry).filter((r) =>
        r !== this.ref.repository
      ).slice(0, 3)
    ) {
      let response: Response;
      try {
        await this.client.auth.addScope(`repository:${from}:pull`);
        response = await this.client.request(
          "POST",
          `${this.#blobs}/uploads/?mount=${encodeURIComponent(digest)}&from=${
            encodeURIComponent(from)
          }`,
          { what: `mounting ${what} from ${from}` },
        );
      } catch (error) {
        // A mount is only a shortcut (e.g. no read access to `from`): upload instead.
        if (error instanceof RegistryError) continue;
        throw error;
      }
      await response.body?.cancel();
      if (response.status === 201) return "mounted";
      if (response.status === 202 && response.headers.get("location")) {
        // Not mountable (e.g. no read access to `from`): the registry opened an ordinary upload instead.
        location = await this.#resolve(response.headers.get("location")!);
        break;
      }
    }
    const attempts = Math.max(1, this.options.attempts ?? 5);
    for (let attempt = 1;; attempt++) {
      try {
        location ??= await this.#start(what);
        const chunk = Math.max(1, this.options.chunkSize ?? DEFAULT_CHUNK);
        if (size <= chunk) await this.#putWhole(location, digest, size, what);
        else await this.#putChunks(location, digest, size, chunk, what);
        return "uploaded";
      } catch (error) {
        location = undefined;
        if (!isRetryable(error) || attempt >= attempts) throw error;
        await sleep(this.client.backoff(attempt));
        // The registry may have finished the blob although the answer got lost.
        if (await this.exists(digest)) return "uploaded";
      }
    }
  }

  async #resolve(location: string): Promise<string> {
    return new URL(location, await this.client.baseUrl()).href;
  }

  async #fail(response: Response, doing: string): Promise<never> {
    const { text, codes } = await describeFailure(response);
    throw new RegistryError(`${this.where}: ${doing} failed: ${text}`, response.status, codes);
  }

  async #start(what: string): Promise<string> {
    const response = await this.client.request("POST", `${this.#blobs}/uploads/`, {
      what: `starting the upload of ${what}`,
      retry: false,
    });
    const location = response.headers.get("location");
    if (response.status !== 202 || !location) {
      return await this.#fail(response, `starting the upload of ${what}`);
    }
    await response.body?.cancel();
    return await this.#resolve(location);
  }

  #withDigest(location: string, digest: Digest): string {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    return url.href;
  }

  async #putWhole(location: string, digest: Digest, size: number, what: string): Promise<void> {
    const body = await readRange(this.store, digest, 0, size);
    const response = await this.client.request("PUT", this.#withDigest(location, digest), {
      what: `uploading ${what}`,
      body,
      headers: { "content-type": "application/octet-stream" },
      retry: false,
    });
    if (response.status !== 201) return await this.#fail(response, `uploading ${what} (${digest})`);
    await response.body?.cancel();
    this.progress.add(size);
  }

  async #putChunks(
    location: string,
    digest: Digest,
    size: number,
    chunk: number,
    what: string,
  ): Promise<void> {
    let current = location;
    for (let offset = 0; offset < size; offset += chunk) {
      const length = Math.min(chunk, size - offset);
      const body = await readRange(this.store, digest, offset, length);
      const response = await this.client.request("PATCH", current, {
        what: `uploading ${what}`,
        body,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + length - 1}`,
        },
        retry: false,
      });
      const next = response.headers.get("location");
      if (response.status !== 202 || !next) {
        return await this.#fail(
          response,
          `uploading bytes ${offset}-${offset + length - 1} of ${what}`,
        );
      }
      await response.body?.cancel();
      current = await this.#resolve(next);
      this.progress.add(length);
    }
    const response = await this.client.request("PUT", this.#withDigest(current, digest), {
      what: `finishing ${what}`,
      retry: false,
    });
    if (response.status !== 201) {
      return await this.#fail(response, `finishing the upload of ${what} (${digest})`);
    }
    await response.body?.cancel();
  }

  async manifest(target: string, manifest: JsonBlob, format: ManifestFormat): Promise<void> {
    const response = await this.client.request(
      "PUT",
      `/v2/${this.ref.repository}/manifests/${target}`,
      {
        what: `the manifest ${target}`,
        body: manifest.bytes,
        headers: { "content-type": manifest.mediaType },
      },
    );
    if (response.status !== 201) {
      const { text, codes } = await describeFailure(response);
      const hint =
        format === "oci" && (codes.includes("MANIFEST_INVALID") || response.status === 415)
          ? "; if this registry only takes Docker manifests, push with --manifest-format docker"
          : "";
      throw new RegistryError(
        `${this.where}: uploading the manifest ${target} failed: ${text}${hint}`,
        response.status,
        codes,
      );
    }
    const served = response.headers.get("docker-content-digest");
    await response.body?.cancel();
    if (served && served !== manifest.digest) {
      throw new RegistryError(
        `${this.where}: the registry stored the manifest as ${served}, not ${manifest.digest}; it rewrote the manifest`,
      );
    }
  }
}

/**
 * Pushes an image whose blobs are in `store`: its layers in the encoding the
 * push asks for (made from the store when missing), then the config, then
 * the manifest.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { Image } from "../../model/image.ts";
 * import { parseReference } from "../../model/reference.ts";
 *
 * declare const store: BlobStore;
 * declare const image: Image;
 * const result = await pushImage(store, image, parseReference("127.0.0.1:5000/app:1"), {
 *   tlsVerify: false,
 * });
 * result.reference; // "127.0.0.1:5000/app:1"
 * result.blobs; // e.g. { uploaded: 2, mounted: 0, existing: 1 }
 * ```
 */
export async function pushImage(
  store: BlobStore,
  built: Image,
  ref: ImageReference,
  options: PushOptions = {},
  progress: Progress = Progress.silent(),
  /** Push under the manifest digest only, without a tag (the images of an index). */
  byDigest = false,
): Promise<PushResult> {
  const format = options.manifestFormat ?? "oci";
  if (!(MANIFEST_FORMATS as readonly string[]).includes(format)) {
    throw new TypeError(
      `push: manifestFormat must be "oci" or "docker" (got ${JSON.stringify(format)})`,
    );
  }
  const compressor = options.compressor ?? "gz";
  if (format === "docker" && compressor === "zstd") {
    throw new TypeError(
      "push: Docker schema 2 manifests have no zstd layer type; use compressor gz (or none), or the OCI manifest format",
    );
  }
  let image: EncodedImage = await encodeImage(store, built, { kind: "oci", compressor });
  // Base layers keep their compression; Docker manifests cannot describe zstd ones.
  if (format === "docker") {
    image = {
      ...image,
      layers: await Promise.all(
        image.layers.map((l) => l.encoding === "zstd" ? encodeLayer(store, l, "gz") : l),
      ),
    };
  }
  const layers = image.layers;
  const manifest = format === "docker" ? dockerManifest(image) : ociManifest(image);
  if (ref.digest && ref.digest !== manifest.digest) {
    throw new RegistryError(
      `${
        formatReference(ref)
      }: the image's manifest digest is ${manifest.digest}, not the digest in the reference; push to a tag instead`,
    );
  }
  const target: string = byDigest ? manifest.digest : ref.digest ?? ref.tag ?? built.tag;
  const lookup = findCredentials(ref.registry, ref.repository, {
    creds: options.creds,
    pushTarget: true,
  });
  const client = new RegistryClient(ref, ["pull", "push"], options, lookup);
  const uploader = new Uploader(store, client, ref, options, progress);
  const counts = { uploaded: 0, mounted: 0, existing: 0 };
  try {
    const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
    progress.begin(
      `pushing ${
        formatReference({
          ...ref,
          tag: target.startsWith("sha256:") ? undefined : target,
          digest: undefined,
        })
      }`,
    );
    await mapLimit(unique, options.concurrency ?? 3, async (layer, i) => {
      counts[await uploader.blob(layer.digest, layer.size, `layer ${i + 1}/${unique.length}`)]++;
    });
    counts[await uploader.blob(built.config.digest, built.config.size, "config")]++;
    await uploader.manifest(target, manifest, format);
    progress.end();
  } finally {
    client.close();
  }
  for (const digest of [built.config.digest, ...layers.map((l) => l.digest)]) {
    rememberBlobLocation(store, digest, ref.registry, ref.repository);
  }
  const layerType = format === "docker" ? DOCKER.layer : OCI.layer;
  return {
    name: built.repoName,
    tag: built.tag,
    reference: formatReference({
      registry: ref.registry,
      repository: ref.repository,
      ...(target.startsWith("sha256:") ? { digest: target as Digest } : { tag: target }),
    }),
    manifestDigest: manifest.digest,
    mediaType: manifest.mediaType,
    size: manifest.size,
    configDigest: built.config.digest,
    layers: layers.map((l) => ({
      digest: l.digest,
      diffId: l.diffId,
      size: l.size,
      mediaType: layerType[l.encoding],
    })),
    blobs: counts,
  };
}

/**
 * Pushes every image of `index` by digest, then the index (an OCI image
 * index, or with `manifestFormat: "docker"` a Docker manifest list) under
 * `ref`'s tag (default `latest`).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../../cache/blob_store.ts";
 * import type { ImageIndex } from "../../model/image_index.ts";
 * import { parseReference } from "../../model/reference.ts";
 *
 * declare const store: BlobStore;
 * declare const index: ImageIndex; // one image per platform
 * const result = await pushImageIndex(store, index, parseReference("127.0.0.1:5000/app:1.0"), {
 *   tlsVerify: false,
 * });
 * result.manifests.map((m) => m.reference); // each image by digest: "127.0.0.1:5000/app@sha256:..."
 * ```
 */
export async function pushImageIndex(
  store: BlobStore,
  index: ImageIndex,
  ref: ImageReference,
  options: PushOptions = {},
  progress: Progress = Progress.silent(),
  /** The layer compression of each image, when it differs from `options.compressor`. */
  compressorOf: (i: number) => Compressor | undefined = () => undefined,
): Promise<PushIndexResult> {
  if (ref.digest) {
    throw new RegistryError(`${formatReference(ref)}: push an index to a tag, not a digest`);
  }
  if (index.manifests.length === 0) throw new TypeError("pushIndex: give at least one image");
  try {
    checkPlatformsDistinct(index.manifests.map((m) => m.platform));
  } catch (error) {
    throw new TypeError(`pushIndex: ${(error as Error).message}`);
  }
  const format = options.manifestFormat ?? "oci";
  const manifests: PushIndexResult["manifests"] = [];
  for (const [i, { image, platform }] of index.manifests.entries()) {
    // By digest: the index is what carries the tag.
    const pushed = await pushImage(
      store,
      image,
      { registry: ref.registry, repository: ref.repository },
      { ...options, compressor: compressorOf(i) ?? options.compressor, manifestFormat: format },
      progress,
      true,
    );
    manifests.push({ ...pushed, platform });
  }
  const document = indexDocument(
    manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: m.manifestDigest as Digest,
      size: m.size,
      platform: m.platform,
    })),
    format,
    index.annotations,
  );
  const tag = ref.tag ?? "latest";
  const client = new RegistryClient(
    ref,
    ["pull", "push"],
    options,
    findCredentials(ref.registry, ref.repository, { creds: options.creds, pushTarget: true }),
  );
  try {
    await new Uploader(store, client, ref, options, progress).manifest(tag, document, format);
  } finally {
    client.close();
  }
  return {
    reference: formatReference({ ...ref, tag }),
    manifestDigest: document.digest,
    mediaType: document.mediaType,
    manifests,
  };
}
