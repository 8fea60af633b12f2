/**
 * The encodings of a layer in the blob store. A layer is known by its diffId;
 * the store may hold its tar (`none`, digest = diffId), a gzip and a zstd
 * blob of it. `records/encodings/<diffId hex>.json` lists the compressed ones
 * by codec id (another libzstd may write other bytes, so blobs are reused
 * only from the same codec). A writer asks {@link encodeLayer} for the
 * encoding its output needs; a missing one is made from any encoding the
 * store has, once, and remembered.
 *
 * @module
 */

import type { BlobRef, BlobStore } from "./blob_store.ts";
import { type Compressor, compressorId } from "../codec/compress.ts";
import { decompress } from "../codec/decompress.ts";
import type { Digest } from "../codec/sha256.ts";
import type { EncodedLayer, Encoding, Layer, LayerBlob } from "../model/layer.ts";
import { storeTarStream } from "./store_tar_stream.ts";

/** Record kind: diffId hex -> { codec id: blob }. */
const KIND = "encodings";

type EncodingRecord = Partial<Record<string, BlobRef>>;

/**
 * Remembers that `blob` is `layer`'s tar encoded with `codec` (a {@link compressorId}).
 *
 * @example
 * ```ts
 * import type { BlobRef, BlobStore } from "./blob_store.ts";
 * import type { Digest } from "../codec/sha256.ts";
 * import { compressorId } from "../codec/compress.ts";
 *
 * declare const store: BlobStore;
 * declare const diffId: Digest; // the layer's
 * declare const blob: BlobRef; // its tar compressed with libzstd, already in the store
 * recordEncoding(store, diffId, await compressorId("zstd"), blob); // e.g. "zstd/libzstd-1.5.7"
 * ```
 */
export function recordEncoding(
  store: BlobStore,
  diffId: Digest,
  codec: string,
  blob: BlobRef,
): void {
  if (blob.digest === diffId) return; // the tar itself needs no record
  const key = diffId.slice(7);
  const known = store.getRecord<EncodingRecord>(KIND, key) ?? {};
  if (known[codec]?.digest === blob.digest) return;
  store.putRecord(KIND, key, { ...known, [codec]: { digest: blob.digest, size: blob.size } });
}

/** The encodings of `diffId` present in the store, by codec id (`none` for the tar). */
function presentEncodings(store: BlobStore, diffId: Digest): Map<string, BlobRef> {
  const out = new Map<string, BlobRef>();
  if (store.has(diffId)) out.set("none", { digest: diffId, size: store.size(diffId) });
  const known = store.getRecord<EncodingRecord>(KIND, diffId.slice(7)) ?? {};
  for (const [codec, blob] of Object.entries(known)) {
    if (blob && store.has(blob.digest)) out.set(codec, blob);
  }
  return out;
}

/** The encoding of a codec id (`zstd/libzstd-1.5.4` -> `zstd`). */
function encodingOfCodec(codec: string): Encoding {
  return codec.split("/")[0] as Encoding;
}

/**
 * True when the store holds some encoding of `layer` (its origin, its tar, or
 * a recorded compressed blob), so it can be written without rebuilding it.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 *
 * declare const store: BlobStore;
 * declare const layer: Layer;
 * if (!hasLayer(store, layer)) console.log("rebuild it");
 * ```
 */
export function hasLayer(store: BlobStore, layer: Layer): boolean {
  if (layer.origin && store.has(layer.origin.digest)) return true;
  return presentEncodings(store, layer.diffId).size > 0;
}

/** Any stored blob of `layer` with its encoding, preferring the tar itself. */
function anyBlob(store: BlobStore, layer: Layer): LayerBlob {
  const present = presentEncodings(store, layer.diffId);
  const none = present.get("none");
  if (none) return { encoding: "none", ...none };
  if (layer.origin && store.has(layer.origin.digest)) return layer.origin;
  for (const [codec, blob] of present) return { encoding: encodingOfCodec(codec), ...blob };
  throw new Error(
    `layer ${layer.diffId} is not in the cache ${store.root} any more; build again (it will be rebuilt)`,
  );
}

/**
 * The uncompressed tar of a stored layer, from whichever encoding the store has.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 *
 * declare const store: BlobStore;
 * declare const layer: Layer;
 * let size = 0;
 * for await (const chunk of layerTar(store, layer)) size += chunk.length;
 * ```
 */
export function layerTar(store: BlobStore, layer: Layer): AsyncIterable<Uint8Array> {
  const blob = anyBlob(store, layer);
  const source = store.read(blob.digest);
  return blob.encoding === "none" ? source : decompress(source);
}

/**
 * `layer` encoded as `encoding`: found in the store, or made from any
 * encoding the store has (checked against the diffId) and remembered.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 *
 * declare const store: BlobStore;
 * declare const layer: Layer;
 * const plain = await encodeLayer(store, layer, "none");
 * plain.digest === layer.diffId; // true
 * ```
 */
export async function encodeLayer(
  store: BlobStore,
  layer: Layer,
  encoding: Encoding,
): Promise<EncodedLayer> {
  if (layer.origin?.encoding === encoding && store.has(layer.origin.digest)) {
    return { ...layer, ...layer.origin };
  }
  const codec = await compressorId(encoding);
  const found = presentEncodings(store, layer.diffId).get(codec);
  if (found) return { ...layer, encoding, ...found };
  const source = anyBlob(store, layer);
  const tar = source.encoding === "none"
    ? store.read(source.digest)
    : decompress(store.read(source.digest));
  const { diffId, blob } = await storeTarStream(
    store,
    tar,
    encoding as Compressor,
    undefined,
    source.size,
  );
  if (diffId !== layer.diffId) {
    throw new Error(
      `the cached blob ${source.digest} of layer ${layer.diffId} is corrupt; delete ${store.root} and build again`,
    );
  }
  recordEncoding(store, diffId, codec, blob);
  return { ...layer, encoding, ...blob };
}

/** The encodings an output takes. */
export type OutputEncoding =
  /** docker-archive and the stream: every layer as its tar. */
  | { kind: "tar" }
  /** OCI outputs and pushes: layers built here in `compressor`; a compressed origin kept as it is. */
  | { kind: "oci"; compressor: Compressor };

/**
 * Every layer as an output wants it.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Layer } from "../model/layer.ts";
 *
 * declare const store: BlobStore;
 * declare const layers: Layer[];
 * const encoded = await encodeLayers(store, layers, { kind: "oci", compressor: "zstd" });
 * encoded.map((l) => l.encoding); // "zstd", or "gz" for a base image's gzip layer kept as it came
 * ```
 */
export async function encodeLayers(
  store: BlobStore,
  layers: readonly Layer[],
  output: OutputEncoding,
): Promise<EncodedLayer[]> {
  const out: EncodedLayer[] = [];
  for (const layer of layers) {
    if (output.kind === "tar") out.push(await encodeLayer(store, layer, "none"));
    else if (layer.origin && layer.origin.encoding !== "none" && store.has(layer.origin.digest)) {
      out.push({ ...layer, ...layer.origin });
    } else out.push(await encodeLayer(store, layer, output.compressor));
  }
  return out;
}
