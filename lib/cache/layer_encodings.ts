/**
 * Converting layer blobs between compressions, once per blob: a sink that
 * needs uncompressed layers (docker-archive) or compressed ones (OCI) gets
 * them from the store, and conversions are remembered in the store.
 *
 * @module
 */

import type { BlobStore } from "./blob_store.ts";
import { type Compressor, compressorId } from "../codec/compress.ts";
import { decompress } from "../codec/decompress.ts";
import type { Digest } from "../codec/sha256.ts";
import type { Layer } from "../model/layer.ts";
import { storeTarStream } from "../build/write_layer.ts";

interface Converted {
  digest: Digest;
  size: number;
}

/**
 * The uncompressed tar of a stored layer.
 *
 * @example
 * ```ts
 * for await (const chunk of layerTar(store, image.layers[0])) hash.update(chunk);
 * ```
 */
export function layerTar(store: BlobStore, layer: Layer): AsyncIterable<Uint8Array> {
  const source = store.read(layer.digest);
  return layer.compressor === "none" ? source : decompress(source);
}

/**
 * `layer` stored with `compressor` (`none`: the uncompressed tar, digest = diff_id).
 *
 * @example
 * ```ts
 * const plain = await convertLayer(store, gzLayer, "none");
 * plain.digest === gzLayer.diffId; // true
 * ```
 */
export async function convertLayer(
  store: BlobStore,
  layer: Layer,
  compressor: Compressor,
): Promise<Layer> {
  if (layer.compressor === compressor) return layer;
  const key = `${layer.digest.slice(7)}-${(await compressorId(compressor)).replace("/", "-")}`;
  const known = store.getRecord<Converted>("converted", key);
  if (known && store.has(known.digest)) return { ...layer, ...known, compressor };
  if (compressor === "none" && store.has(layer.diffId)) {
    return { ...layer, digest: layer.diffId, size: store.size(layer.diffId), compressor };
  }
  const { diffId, blob } = await storeTarStream(
    store,
    layerTar(store, layer),
    compressor,
    undefined,
    layer.size,
  );
  if (diffId !== layer.diffId) {
    throw new Error(
      `layer ${layer.digest} in ${store.root} does not match its diff_id ${layer.diffId}; delete the cache folder and rebuild`,
    );
  }
  store.putRecord("converted", key, { digest: blob.digest, size: blob.size } satisfies Converted);
  return { ...layer, digest: blob.digest, size: blob.size, compressor };
}

/**
 * Layers as a sink wants them: all uncompressed for a docker-archive; for OCI
 * outputs, uncompressed layers compressed with `compressor` and layers that
 * are already compressed (base layers) kept as they are.
 *
 * @example
 * ```ts
 * const layers = await layersForSink(store, image.layers, "docker-archive", "gz");
 * ```
 */
export async function layersForSink(
  store: BlobStore,
  layers: readonly Layer[],
  sink: "docker-archive" | "oci",
  compressor: Compressor,
): Promise<Layer[]> {
  const out: Layer[] = [];
  for (const layer of layers) {
    if (sink === "docker-archive") out.push(await convertLayer(store, layer, "none"));
    else if (layer.compressor === "none") out.push(await convertLayer(store, layer, compressor));
    else out.push(layer);
  }
  return out;
}
