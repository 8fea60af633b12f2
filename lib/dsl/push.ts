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
  type PushIndexResult,
  pushImage,
  pushImageIndex,
  type PushOptions,
  type PushResult,
} from "../transport/registry/push.ts";
import type { ImageDefinition } from "./image_definition.ts";

/** Options of {@link push} and {@link pushIndex}: the registry's, plus an existing session to build in. */
export interface PushCallOptions extends PushOptions {
  /** Build in this session (shares its cache, progress and built images) instead of opening one. */
  session?: BuildSession;
}

function sessionFor(options: PushCallOptions, compressor: SessionOptions["layerEncoding"]): BuildSession {
  const session = options.session ??
    BuildSession.open({ cacheDir: options.cacheDir, progress: options.progress, layerEncoding: compressor });
  return session;
}

/**
 * Builds `image` and pushes it to `reference` (`registry/repository[:tag]`;
 * without a tag, the image's tag). Layers are compressed per `compressor`.
 *
 * @example
 * ```ts
 * import { buildImage, push } from "dockwright";
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
  options: PushCallOptions = {},
): Promise<PushResult> {
  const ref = parseReference(reference);
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
 * import { buildImage, pushIndex } from "dockwright";
 * await pushIndex(
 *   [buildImage({ name: "app", architecture: "amd64" }), buildImage({ name: "app", architecture: "arm64" })],
 *   "127.0.0.1:5000/app:1.0",
 *   { tlsVerify: false },
 * );
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
