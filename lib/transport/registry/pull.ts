/**
 * Pulling an image from a registry into the blob store. Every manifest,
 * config and layer is checked against its digest and size while it streams
 * (into a `BlobSink`: by default `ingestBlob`, temp file, hash, rename), so
 * a wrong or truncated blob is an error and nothing of it is kept. Blobs already in the
 * store are not requested again, and neither is a manifest asked for by
 * digest (a digest names its content forever), so a second pull of the same
 * image makes no request at all.
 *
 * A dropped connection or a truncated body is retried from the start (with
 * backoff); a body with the wrong content is not (the registry is broken).
 *
 * @module
 */

import type { BlobStore } from "../../cache/blob_store.ts";
import { type Digest, digestOf, isDigest } from "../../codec/sha256.ts";
import {
  type BlobSink,
  DigestMismatchError,
  type IngestedBlob,
  storeSink,
} from "../../cache/ingest_blob.ts";
import type { Layer } from "../../model/layer.ts";
import { compressorOfMediaType, DOCKER, OCI } from "../../model/media_types.ts";
import { type ImageConfigFile, parseConfigFile } from "../../model/image_config.ts";
import type { Image } from "../../model/image.ts";
import { hostArchitecture } from "../../model/platform.ts";
import type { Progress } from "../../host/progress.ts";
import { rememberBlobLocation } from "./blob_locations.ts";
import { RegistryClient, type RegistryOptions } from "./client.ts";
import { bodyChunks, readBody } from "./body.ts";
import { describeFailure, RegistryError, RegistryNotFoundError } from "./errors.ts";
import {
  checkJsonDepth,
  checkLimit,
  ExpansionBudget,
  inputLimits,
  limitError,
  LIMITS,
} from "../../host/input_limits.ts";
import { mapLimit } from "../../host/map_limit.ts";
import {
  choosePlatform,
  type Platform,
  type PlatformDescriptor,
  platformName,
} from "../../model/platform.ts";
import {
  DOCKER_HUB,
  formatReference,
  type ImageReference,
  parseReference,
} from "../../model/reference.ts";

/** Options of {@link pull}. */
export interface PullOptions extends RegistryOptions {
  /** Which image of a multi-platform index. Default `linux` and the host's architecture. */
  platform?: Platform;
  /** The platform was asked for explicitly: a single-platform image of another architecture is then an error. */
  strictPlatform?: boolean;
  /** Progress reporter (bytes downloaded). */
  progress?: Progress;
  /** Layers downloaded at once. Default 3. */
  concurrency?: number;
  /** Where the blobs go. Default: the store (inspect scans them instead). */
  sink?: BlobSink;
}

/** A pulled image (its blobs in the store, or read by the sink) and where it came from. */
export interface Pulled {
  /** The image, named after the reference; its layers' origins are the registry's blobs (usually gzip). */
  image: Image;
  /** What was pulled (its digest is the one asked for, or the tag's digest). */
  reference: ImageReference & { digest: Digest };
  /** Digest of the image manifest (differs from `reference.digest` when that names an index). */
  manifestDigest: Digest;
  /** Media type of that manifest. */
  mediaType: string;
}

/** The `Accept` header for manifests: every type dockwright reads. */
const MANIFEST_ACCEPT = [OCI.manifest, OCI.index, DOCKER.manifest, DOCKER.manifestList].join(", ");
interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size: number;
  urls?: unknown;
}

interface ManifestDoc {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: PlatformDescriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function descriptor(value: unknown, what: string, where: string): Descriptor {
  const d = value as Descriptor;
  if (
    !d || typeof d !== "object" || typeof d.digest !== "string" || !isDigest(d.digest) ||
    !Number.isSafeInteger(d.size) || d.size < 0
  ) {
    throw new RegistryError(
      `${where}: ${what} is not a valid descriptor (needs a sha256 digest and a size)`,
    );
  }
  return d;
}

/** One pull: a client plus the store. */
class Puller {
  readonly where: string;
  readonly sink: BlobSink;
  constructor(
    readonly store: BlobStore,
    readonly client: RegistryClient,
    readonly ref: ImageReference,
    readonly options: PullOptions,
  ) {
    this.where = `${ref.registry}/${ref.repository}`;
    this.sink = options.sink ?? storeSink(store);
  }

  /** A manifest by digest (from the store when present) or by tag. */
  async manifest(
    reference: string,
    expected?: { digest: Digest; size?: number },
  ): Promise<{ bytes: Uint8Array; digest: Digest; doc: ManifestDoc; mediaType: string }> {
    let bytes: Uint8Array | undefined;
    let contentType = "";
    const limit = inputLimits().maxJsonBytes;
    if (expected?.size !== undefined && expected.size > limit) {
      throw limitError(this.where, `manifest ${reference}`, expected.size, "maxJsonBytes", limit);
    }
    if (expected && this.store.has(expected.digest)) {
      bytes = this.store.readBytes(expected.digest);
    } else {
      const what = `manifest ${reference}`;
      const attempts = Math.max(1, this.options.attempts ?? 5);
      for (let attempt = 1;; attempt++) {
        const response = await this.client.request(
          "GET",
          `/v2/${this.ref.repository}/manifests/${reference}`,
          {
            what,
            headers: { accept: MANIFEST_ACCEPT },
          },
        );
        if (response.status === 404) {
          const { codes } = await describeFailure(response);
          throw new RegistryNotFoundError(
            isDigest(reference)
              ? `${this.where} has no manifest ${reference}: check the image name and digest (\`skopeo inspect docker://${this.where}:TAG\` shows the digest of a tag)`
              : `${this.where} has no tag ${reference}: check the image name and tag (\`skopeo list-tags docker://${this.where}\` lists them)`,
            codes,
          );
        }
        if (!response.ok) {
          const { text, codes } = await describeFailure(response);
          throw new RegistryError(
            `${this.where}: cannot get ${what}: ${text}`,
            response.status,
            codes,
          );
        }
        contentType = (response.headers.get("content-type") ?? "").split(";")[0].trim();
        try {
          bytes = await readBody(
            response,
            limit,
            `${this.where}: ${what}`,
            `; if the registry is trusted, raise ${LIMITS.maxJsonBytes.env}`,
          );
          break;
        } catch (error) {
          // A size over the limit is final; a dropped or stalled body is worth another try.
          if (error instanceof RegistryError) throw error;
          if (attempt >= attempts) {
            throw new RegistryError(
              `${this.where}: reading ${what} failed ${attempt} times (${
                (error as Error).message
              }); the connection to the registry is unreliable: try again later`,
            );
          }
          await sleep(this.client.backoff(attempt));
        }
      }
    }
    const digest = digestOf(bytes);
    if (
      expected &&
      (digest !== expected.digest ||
        (expected.size !== undefined && bytes.length !== expected.size))
    ) {
      throw new DigestMismatchError(
        `${this.where}: manifest ${reference}`,
        `${expected.digest}${expected.size !== undefined ? `, ${expected.size} bytes` : ""}`,
        `${digest}, ${bytes.length} bytes`,
      );
    }
    let doc: ManifestDoc;
    checkJsonDepth(this.where, `manifest ${reference}`, bytes!);
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes)) as ManifestDoc;
    } catch (error) {
      throw new RegistryError(
        `${this.where}: manifest ${reference} is not valid JSON (${(error as Error).message})`,
      );
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
      throw new RegistryError(`${this.where}: manifest ${reference} is not a JSON object`);
    }
    if (doc.mediaType !== undefined && typeof doc.mediaType !== "string") {
      throw new RegistryError(`${this.where}: manifest ${reference}: mediaType must be a string`);
    }
    if (doc.manifests !== undefined && !Array.isArray(doc.manifests)) {
      throw new RegistryError(`${this.where}: manifest ${reference}: manifests must be a list`);
    }
    if (doc.layers !== undefined && !Array.isArray(doc.layers)) {
      throw new RegistryError(`${this.where}: manifest ${reference}: layers must be a list`);
    }
    if (
      doc.schemaVersion === 1 ||
      /^application\/vnd\.docker\.distribution\.manifest\.v1\+/.test(doc.mediaType ?? contentType)
    ) {
      throw new RegistryError(
        `${this.where}: manifest ${reference} is Docker schema 1, which dockwright does not read; push the image again with a current tool`,
      );
    }
    // Verified (or requested by digest and verified): keep it, so the next pull asks for nothing.
    this.store.putBytes(bytes);
    const mediaType = doc.mediaType ?? contentType ?? "";
    return { bytes, digest, doc, mediaType };
  }

  /** A blob into the sink, verified while it streams; retried when the connection drops. */
  async blob(
    d: Descriptor,
    what: string,
    layer?: { budget: ExpansionBudget; member: string },
  ): Promise<IngestedBlob> {
    const expected = { digest: d.digest, size: d.size };
    if (this.store.has(d.digest)) {
      // Present means verified: a sink reads the store's copy when given an empty source.
      return await this.sink.take((async function* () {})(), { what, expected, ...layer });
    }
    const attempts = Math.max(1, this.options.attempts ?? 5);
    for (let attempt = 1;; attempt++) {
      const response = await this.client.request(
        "GET",
        `/v2/${this.ref.repository}/blobs/${d.digest}`,
        { what, follow: true },
      );
      if (response.status === 404) {
        const { codes } = await describeFailure(response);
        throw new RegistryNotFoundError(
          `${this.where} has no blob ${d.digest} (${what}), although its manifest names it; the image in the registry is incomplete`,
          codes,
        );
      }
      if (!response.ok) {
        const { text, codes } = await describeFailure(response);
        throw new RegistryError(
          `${this.where}: cannot download ${what} (${d.digest}): ${text}`,
          response.status,
          codes,
        );
      }
      let received = 0;
      let dropped: unknown;
      const progress = this.options.progress;
      const counted = async function* () {
        try {
          for await (const chunk of bodyChunks(response)) {
            received += chunk.length;
            progress?.add(chunk.length);
            yield chunk;
          }
        } catch (error) {
          dropped = error;
          throw error;
        }
      };
      try {
        return await this.sink.take(counted(), {
          what: `${this.where}: ${what}`,
          expected,
          ...layer,
        });
      } catch (error) {
        const truncated = dropped !== undefined ||
          (error instanceof DigestMismatchError && received < d.size);
        if (!truncated) throw error;
        if (attempt >= attempts) {
          const why = dropped instanceof Error ? ` (${dropped.message})` : "";
          throw new RegistryError(
            `${this.where}: downloading ${what} (${d.digest}) stopped after ${received} of ${d.size} bytes, ${attempt} times${why}; ` +
              "the connection to the registry is unreliable: try again later",
          );
        }
        await sleep(this.client.backoff(attempt));
      }
    }
  }
}

/**
 * Pulls `reference` (by digest, or by tag) into `store`.
 *
 * @example
 * ```ts
 * import { BlobStore } from "../../cache/blob_store.ts";
 *
 * const { image, reference, manifestDigest } = await pull(BlobStore.open(), "127.0.0.1:5000/base:1", {
 *   tlsVerify: false,
 *   platform: { os: "linux", architecture: "arm64" },
 * });
 * reference.digest; // the tag's digest: of an index when base:1 is multi-platform
 * manifestDigest; // the arm64 image's manifest
 * image.layers.map((l) => l.origin?.encoding); // usually ["gz", ...], as the registry holds them
 * ```
 */
export async function pull(
  store: BlobStore,
  reference: string | ImageReference,
  options: PullOptions = {},
): Promise<Pulled> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  if (!ref.digest && !ref.tag) {
    throw new RegistryError(
      `${formatReference(ref)}: give a digest (@sha256:...) or a tag to pull`,
    );
  }
  const want: Platform = options.platform ?? { os: "linux", architecture: hostArchitecture() };
  const client = new RegistryClient(ref, ["pull"], options);
  const puller = new Puller(store, client, ref, options);
  try {
    const top = await puller.manifest(
      ref.digest ?? ref.tag!,
      ref.digest ? { digest: ref.digest } : undefined,
    );
    let image = top;
    const indexPlatforms: Platform[] = [];
    if (Array.isArray(top.doc.manifests)) {
      const entries = top.doc.manifests.map((m, i) =>
        descriptor(m, `manifests[${i}]`, puller.where) as PlatformDescriptor & Descriptor
      );
      for (const { platform: p } of entries) {
        if (typeof p?.architecture !== "string" || p.architecture === "unknown") continue;
        indexPlatforms.push({
          os: typeof p.os === "string" ? p.os : "linux",
          architecture: p.architecture,
          ...(typeof p.variant === "string" && p.variant ? { variant: p.variant } : {}),
        });
      }
      let chosen: Descriptor;
      try {
        chosen = choosePlatform(entries, want) as Descriptor;
      } catch (error) {
        throw new RegistryError(
          `${formatReference({ ...ref, digest: top.digest })}: ${(error as Error).message}`,
        );
      }
      image = await puller.manifest(chosen.digest, { digest: chosen.digest, size: chosen.size });
      if (Array.isArray(image.doc.manifests)) {
        throw new RegistryError(`${puller.where}: nested indexes are not supported`);
      }
    }
    const doc = image.doc;
    const configDesc = descriptor(doc.config, "the config", puller.where);
    if (
      configDesc.mediaType && configDesc.mediaType !== OCI.config &&
      configDesc.mediaType !== DOCKER.config
    ) {
      throw new RegistryError(
        `${puller.where}: ${image.digest} is not a container image (its config is ${configDesc.mediaType})`,
      );
    }
    checkLimit(
      puller.where,
      `manifest ${image.digest} layers`,
      doc.layers?.length ?? 0,
      "maxLayers",
    );
    const layerDescs = (Array.isArray(doc.layers) ? doc.layers : []).map((l, i) =>
      descriptor(l, `layers[${i}]`, puller.where)
    );
    for (const [i, l] of layerDescs.entries()) {
      if (l.mediaType && !compressorOfMediaType(l.mediaType)) {
        throw new RegistryError(
          `${puller.where}: layer ${i} has media type ${l.mediaType}, which dockwright cannot use ` +
            "(foreign and non-distributable layers are not supported)",
        );
      }
    }
    checkLimit(puller.where, "the config", configDesc.size, "maxJsonBytes");
    const configBlob = await puller.blob(configDesc, "config");
    const configBytes = puller.sink.bytes(configBlob, `${puller.where}: config`);
    let config: ImageConfigFile;
    try {
      config = parseConfigFile(`${puller.where}: config ${configDesc.digest}`, configBytes);
    } catch (error) {
      throw new RegistryError((error as Error).message);
    }
    const diffIds = config.rootfs.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== layerDescs.length) {
      throw new RegistryError(
        `${puller.where}: the manifest lists ${layerDescs.length} layers but the config has ${
          Array.isArray(diffIds) ? diffIds.length : "no"
        } diff_ids`,
      );
    }
    if (
      !Array.isArray(top.doc.manifests) && options.strictPlatform &&
      (config.architecture !== want.architecture || (config.os ?? "linux") !== want.os)
    ) {
      throw new RegistryError(
        `${formatReference(ref)} is a single-platform image for ${
          platformName({ os: config.os, architecture: config.architecture })
        }, ` +
          `not ${platformName(want)}: remove arch/os, or use the digest of a multi-platform index`,
      );
    }
    options.progress?.begin(
      `pulling ${
        formatReference({ ...ref, digest: undefined, tag: undefined })
      }: ${layerDescs.length} layer(s)`,
    );
    // What the layers may expand to, as a whole: a gzip or zstd bomb is refused while it is hashed.
    const budget = new ExpansionBudget(puller.where, layerDescs.reduce((n, d) => n + d.size, 0));
    const layers = await mapLimit(layerDescs, options.concurrency ?? 3, async (d, i) => {
      const member = `layer ${i + 1}/${layerDescs.length} (${d.digest})`;
      const blob = await puller.blob(d, `layer ${i + 1}/${layerDescs.length}`, { budget, member });
      const diffId = await puller.sink.diffId(blob, {
        what: `${puller.where}: ${member}`,
        member,
        budget,
      });
      if (diffId !== diffIds[i]) {
        throw new RegistryError(
          `${puller.where}: layer ${i} (${d.digest}) has diff_id ${diffId} but the config says ${
            diffIds[i]
          }; the image is corrupt`,
        );
      }
      return {
        diffId,
        origin: { encoding: blob.compressor, digest: blob.digest, size: blob.size },
      } satisfies Layer;
    });
    options.progress?.end();
    for (const digest of [configDesc.digest, ...layerDescs.map((l) => l.digest)]) {
      rememberBlobLocation(store, digest, ref.registry, ref.repository);
    }
    return {
      image: {
        repoName: ref.registry === DOCKER_HUB
          ? ref.repository
          : `${ref.registry}/${ref.repository}`,
        tag: ref.tag ?? "",
        config: { digest: configBlob.digest, size: configBlob.size, bytes: configBytes },
        layers,
        archiveLayout: "stream",
        sourceManifest: {
          digest: image.digest,
          mediaType: image.mediaType,
          size: image.bytes.length,
        },
        ...(indexPlatforms.length > 1
          ? { sourceIndex: { digest: top.digest, platforms: indexPlatforms } }
          : {}),
      },
      reference: { ...ref, digest: top.digest },
      manifestDigest: image.digest,
      mediaType: image.mediaType,
    };
  } finally {
    client.close();
  }
}
