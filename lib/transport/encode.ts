/**
 * Images as an output writes them: every layer in the encoding that output
 * takes (see `cache/layer_encodings.ts`), made from the store when missing.
 *
 * @module
 */

import type { BlobStore } from "../cache/blob_store.ts";
import { encodeLayers, type OutputEncoding } from "../cache/layer_encodings.ts";
import type { EncodedImage, Image } from "../model/image.ts";

export type { OutputEncoding };

/**
 * `image` with its layers encoded for `output`.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const store: BlobStore;
 * declare const image: Image;
 * const forOci = await encodeImage(store, image, { kind: "oci", compressor: "zstd" });
 * forOci.layers[0].encoding; // "zstd" (or a base layer's own compression)
 * ```
 */
export async function encodeImage(
  store: BlobStore,
  image: Image,
  output: OutputEncoding,
): Promise<EncodedImage> {
  return { ...image, layers: await encodeLayers(store, image.layers, output) };
}

/**
 * Every image of `images` encoded for `output`, in order.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "../cache/blob_store.ts";
 * import type { Image } from "../model/image.ts";
 * declare const store: BlobStore;
 * declare const images: Image[];
 * const forArchive = await encodeImages(store, images, { kind: "tar" });
 * ```
 */
export async function encodeImages(
  store: BlobStore,
  images: readonly Image[],
  output: OutputEncoding,
): Promise<EncodedImage[]> {
  const out: EncodedImage[] = [];
  for (const image of images) out.push(await encodeImage(store, image, output));
  return out;
}
