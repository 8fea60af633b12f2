/**
 * Pushing image values to a registry: each is built in a session whose new
 * layers are written in the push's compression, then handed to the registry
 * transport.
 *
 * @module
 */

import { BuildSession, type SessionOptions } from "../build/session.ts";
import { platformOf } from "../model/image.ts";
import { parseReference } from "../model/reference.ts";
import {
  pushImage,
  pushImageIndex,
  type PushIndexResult,
  type PushOptions,
  type PushResult,
} from "../transport/registry/push.ts";
import type { ImageDefinition } from "./image_definition.ts";
import { type IndexDefinition, isIndexDefinition } from "./image_index.ts";

/** Options of {@link push} and {@link pushIndex}: the registry's, plus an existing session to build in. */
export interface PushCallOptions extends PushOptions {
  /** Build in this session (shares its cache, progress and built images) instead of opening one. */
  session?: BuildSession;
}

function sessionFor(
  options: PushCallOptions,
  compressor: SessionOptions["layerEncoding"],
): BuildSession {
  const session = options.session ??
    BuildSession.open({
      cacheDir: options.cacheDir,
      progress: options.progress,
      layerEncoding: compressor,
    });
  return session;
}

/**
 * Builds `image` and pushes it to `reference` (`registry/repository[:tag]`;
 * without a tag, the image's tag). Layers are compressed per `compressor`.
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const result = await push(
 *   buildImage({ name: "app", tag: "1.0", copyToRoot: "./rootfs" }),
 *   "127.0.0.1:5000/app",
 *   { tlsVerify: false },
 * );
 * console.log(result.manifestDigest);
 * ```
 */
export async function push(
  image: ImageDefinition,
  reference: string,
  options?: PushCallOptions,
): Promise<PushResult>;
/** An `imageIndex` is pushed as an index: its images by digest, then the index under the tag. */
export async function push(
  index: IndexDefinition,
  reference: string,
  options?: PushCallOptions,
): Promise<PushIndexResult>;
export async function push(
  image: ImageDefinition | IndexDefinition,
  reference: string,
  options: PushCallOptions = {},
): Promise<PushResult | PushIndexResult> {
  const ref = parseReference(reference);
  if (isIndexDefinition(image)) {
    const compressor = options.compressor ?? image.compressor;
    const session = sessionFor(options, compressor);
    const index = await image.resolveIndex(session);
    return await pushImageIndex(
      session.store,
      index,
      ref.tag || ref.digest ? ref : { ...ref, tag: index.tag },
      { ...options, compressor },
      session.progress,
    );
  }
  const compressor = options.compressor ?? image.compressor;
  const session = sessionFor(options, compressor);
  const built = await session.resolveImage(image);
  return await pushImage(session.store, built, ref, { ...options, compressor }, session.progress);
}

/**
 * Pushes several images (one per platform) by digest, then an OCI image index
 * (or, with `manifestFormat: "docker"`, a Docker manifest list) naming them,
 * tagged `reference`'s tag (default `latest`). Each entry's platform comes
 * from its image config (`os`, `architecture`, `variant`).
 *
 * @example
 * ```ts
 * import { buildImage } from "../../mod.ts";
 *
 * const result = await pushIndex(
 *   [
 *     buildImage({ name: "app", architecture: "amd64", copyToRoot: "./amd64" }),
 *     buildImage({ name: "app", architecture: "arm64", copyToRoot: "./arm64" }),
 *   ],
 *   "127.0.0.1:5000/app:1.0",
 *   { tlsVerify: false },
 * );
 * console.log(result.manifestDigest); // the index's digest
 * ```
 */
export async function pushIndex(
  images: readonly ImageDefinition[],
  reference: string,
  options: PushCallOptions = {},
): Promise<PushIndexResult> {
  const ref = parseReference(reference);
  if (images.length === 0) throw new TypeError("pushIndex: give at least one image");
  const compressorOf = (i: number) => options.compressor ?? images[i].compressor;
  const session = sessionFor(options, compressorOf(0));
  const manifests = [];
  for (const image of images) {
    const built = await session.resolveImage(image);
    manifests.push({ image: built, platform: platformOf(built) });
  }
  return await pushImageIndex(
    session.store,
    { manifests },
    ref,
    options,
    session.progress,
    compressorOf,
  );
}
