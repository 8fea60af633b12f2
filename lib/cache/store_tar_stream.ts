/**
 * One pass from an uncompressed tar stream to a blob in the store:
 *
 * ```
 * tar bytes -> sha256 (diff_id) -> compressor -> sha256 (digest) -> temp file -> blob store
 * ```
 *
 * Hashing, compression and writing run on worker threads (see
 * `threaded_blob_writer.ts`); at most 16 MiB are in flight, so memory stays
 * flat whatever the layer size.
 *
 * @module
 */

import type { BlobRef, BlobStore } from "./blob_store.ts";
import type { Compressor } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import { discardTemp } from "../host/temp_files.ts";
import type { BufferPool } from "../host/buffer_pool.ts";
import { type ChunkSink, openChunkSink } from "./threaded_blob_writer.ts";

/** Byte counts reported while a layer is written. */
export type ProgressCallback = (bytes: number) => void;

/**
 * Streams `source` (an uncompressed tar) through hashing and `compressor`
 * into the store. Returns the diff_id and the stored blob. With
 * `ownedChunks`, the chunks' buffers are handed to the worker uncopied (true
 * for {@link writeTar}'s output, whose buffers nothing else references).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 *
 * declare const store: BlobStore;
 * declare const tar: AsyncIterable<Uint8Array>; // e.g. writeTar(entries)
 * const { diffId, blob } = await storeTarStream(store, tar, "zstd");
 * store.has(blob.digest); // true: the zstd blob; diffId is the sha256 of the tar itself
 * ```
 */
export async function storeTarStream(
  store: BlobStore,
  source: AsyncIterable<Uint8Array> | ((pool: BufferPool | undefined) => AsyncIterable<Uint8Array>),
  compressor: Compressor,
  onBytes?: ProgressCallback,
  sizeHint = Infinity,
  ownedChunks = false,
): Promise<{ diffId: Digest; blob: BlobRef }> {
  const tmp = store.tempFile();
  let sink: ChunkSink | undefined;
  try {
    sink = openChunkSink(tmp, compressor, sizeHint);
    const chunks = typeof source === "function" ? source(sink.pool) : source;
    for await (const chunk of chunks) {
      onBytes?.(chunk.length);
      await sink.write(chunk, ownedChunks);
    }
    const { diffId, digest } = await sink.finish();
    return { diffId, blob: store.commit(tmp, digest) };
  } catch (error) {
    sink?.abort();
    discardTemp(tmp);
    throw error;
  }
}
