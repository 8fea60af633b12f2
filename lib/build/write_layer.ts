/**
 * The one-pass layer pipeline:
 *
 * ```
 * tar entries -> tar bytes -> sha256 (diff_id) -> compressor -> sha256 (digest) -> temp file -> blob store
 * ```
 *
 * Reading files and writing tar headers run on the main thread; hashing,
 * compression and writing run in a worker thread (see `layer_worker.ts`).
 * At most 16 MiB are in flight between them, so memory stays flat whatever
 * the layer size. A layer whose fingerprint is
 * already in the cache is returned without reading its sources; a layer whose
 * uncompressed blob is cached is compressed from that blob.
 *
 * @module
 */

import type { BlobRef, BlobStore } from "../cache/blob_store.ts";
import { fingerprintEntries } from "../cache/fingerprint.ts";
import { type Compressor, compressorId } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import type { TarEntry } from "../tar/entry.ts";
import { writeTar } from "../tar/writer.ts";
import { discardTemp } from "../host/temp_files.ts";
import type { Layer } from "../model/layer.ts";
import { type ChunkSink, openChunkSink } from "../cache/threaded_blob_writer.ts";
import type { BufferPool } from "../host/buffer_pool.ts";

/** What the cache remembers about a layer fingerprint. */
interface LayerRecord {
  diffId: Digest;
  /** Keyed by {@link compressorId}: blobs of another codec are not reused. */
  blobs: Partial<Record<string, BlobRef>>;
}

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
 * const { diffId, blob } = await storeTarStream(store, writeTar(entries), "zstd");
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

/** Options of {@link writeLayer}. */
export interface WriteLayerOptions {
  /** Extra inputs that change the bytes (for example the record size). */
  fingerprintExtra?: unknown;
  /** Tar record size. Default 10240. */
  recordSize?: number;
  /** Called with the number of uncompressed bytes as they pass. */
  onBytes?: ProgressCallback;
  /** History comment to attach. */
  comment?: string;
}

/**
 * Builds one layer from tar entries into the store, reusing the cache when the
 * same entries were built before.
 *
 * @example
 * ```ts
 * const layer = await writeLayer(store, entries, "gz");
 * layer.diffId; // sha256 of the uncompressed tar
 * ```
 */
export async function writeLayer(
  store: BlobStore,
  entries: readonly TarEntry[],
  compressor: Compressor,
  options: WriteLayerOptions = {},
): Promise<Layer> {
  const recordSize = options.recordSize ?? 10240;
  const fingerprint = fingerprintEntries(entries, {
    recordSize,
    extra: options.fingerprintExtra ?? null,
  });
  const codec = await compressorId(compressor);
  const record = fingerprint ? store.getRecord<LayerRecord>("layers", fingerprint) : undefined;
  const done = (diffId: Digest, blob: BlobRef): Layer => ({
    diffId,
    digest: blob.digest,
    size: blob.size,
    compressor,
    comment: options.comment,
  });
  const remember = (diffId: Digest, blob: BlobRef) => {
    if (!fingerprint) return;
    const blobs = { ...(record?.diffId === diffId ? record.blobs : {}), [codec]: blob };
    store.putRecord("layers", fingerprint, { diffId, blobs } satisfies LayerRecord);
  };
  if (record) {
    const cached = record.blobs[codec];
    if (cached && store.has(cached.digest)) return done(record.diffId, cached);
    if (compressor !== "none" && store.has(record.diffId)) {
      const { diffId, blob } = await storeTarStream(
        store,
        store.read(record.diffId),
        compressor,
        options.onBytes,
        store.size(record.diffId),
      );
      if (diffId !== record.diffId) {
        throw new Error(`cache blob ${record.diffId} is corrupt; delete ${store.root} and rebuild`);
      }
      remember(diffId, blob);
      return done(diffId, blob);
    }
  }
  const { diffId, blob } = await storeTarStream(
    store,
    (pool) => writeTar(entries, { recordSize, pool }),
    compressor,
    options.onBytes,
    entries.reduce((n, e) => n + e.size + 512, 0),
    true,
  );
  remember(diffId, blob);
  return done(diffId, blob);
}
