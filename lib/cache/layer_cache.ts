/**
 * The layer cache: a fingerprint of a layer's tar entries (see
 * `fingerprint.ts`) maps to the layer's diffId (`records/layers/<key>.json`),
 * and the store holds the diffId's encodings (see `layer_encodings.ts`). One
 * layer is built from entries in the calling thread with
 * {@link buildLayerInThread}: the tar is made without a promise per entry
 * (`writeTarSync`), hashed, encoded and written by a {@link BlobWriter}, so
 * several layers can be built at once, one per thread.
 *
 * The records, keys and blobs are the same whichever runtime wrote them, so a
 * layer built by Deno is found by Bun and the other way round.
 *
 * @module
 */

import type { BlobRef, BlobStore } from "./blob_store.ts";
import { BlobWriter } from "./blob_writer.ts";
import { fingerprintEntries } from "./fingerprint.ts";
import { hasLayer, recordEncoding } from "./layer_encodings.ts";
import { type Compressor, compressorId } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import { BufferRecycler } from "../host/buffer_pool.ts";
import { discardTemp } from "../host/temp_files.ts";
import type { TarEntry } from "../tar/entry.ts";
import { writeTarSync } from "../tar/writer.ts";

/** Record kind of layer fingerprints. */
const KIND = "layers";

/** What the cache remembers about a layer fingerprint (`blobs`: records written before encodings were kept apart). */
interface LayerRecord {
  diffId: Digest;
  blobs?: Partial<Record<string, BlobRef>>;
}

/**
 * The diffId recorded for `fingerprint`, when the store still holds some
 * encoding of that layer; undefined otherwise (a miss: build the layer).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { TarEntry } from "../tar/entry.ts";
 * import { fingerprintEntries } from "./fingerprint.ts";
 *
 * declare const store: BlobStore;
 * declare const entries: TarEntry[];
 * const key = fingerprintEntries(entries, { recordSize: 10240, extra: null });
 * const diffId = key ? findLayer(store, key) : undefined; // a hit: nothing to read
 * ```
 */
export function findLayer(store: BlobStore, fingerprint: string): Digest | undefined {
  const record = store.getRecord<LayerRecord>(KIND, fingerprint);
  if (!record) return undefined;
  for (const [codec, blob] of Object.entries(record.blobs ?? {})) {
    if (blob && store.has(blob.digest)) recordEncoding(store, record.diffId, codec, blob);
  }
  return hasLayer(store, { diffId: record.diffId }) ? record.diffId : undefined;
}

/**
 * Records that the layer with `fingerprint` has `diffId`.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Digest } from "../codec/sha256.ts";
 *
 * declare const store: BlobStore;
 * declare const diffId: Digest; // of a layer whose blob is in the store
 * rememberLayer(store, "0f".repeat(32), diffId);
 * findLayer(store, "0f".repeat(32)) === diffId; // true
 * ```
 */
export function rememberLayer(store: BlobStore, fingerprint: string, diffId: Digest): void {
  store.putRecord(KIND, fingerprint, { diffId } satisfies LayerRecord);
}

/**
 * Chunk buffers of this thread's layers, reused from one layer to the next:
 * a new set per layer would leave the runtime hundreds of MiB of garbage to
 * collect over a closure's hundred layers.
 */
const chunkPool = new BufferRecycler(4);

/**
 * Options of {@link buildLayerInThread}.
 *
 * @example
 * ```ts
 * const options: LayerBuildOptions = { encoding: "zstd", zstdThreads: 1, onBytes: (n) => void n };
 * ```
 */
export interface LayerBuildOptions {
  /** How the blob is first stored (any encoding serves any output later). */
  encoding: Compressor;
  /** Tar record size. Default 10240. */
  recordSize?: number;
  /** Extra inputs of the fingerprint (settings that change the bytes). Default null. */
  fingerprintExtra?: unknown;
  /** Called with uncompressed byte counts as they pass. */
  onBytes?: (bytes: number) => void;
  /** libzstd's worker threads for `zstd` (the bytes do not depend on it). Default: one per core. */
  zstdThreads?: number;
  /**
   * The temp file to write, made by the caller (`store.tempFile()`) when it
   * tracks temp files for Ctrl-C (a worker thread cannot); default: a new one.
   */
  tempFile?: string;
}

/**
 * What {@link buildLayerInThread} did: the layer's diffId, and whether it was built or found.
 *
 * @example
 * ```ts
 * const found: LayerBuildResult = { diffId: `sha256:${"0".repeat(64)}`, built: false };
 * ```
 */
export interface LayerBuildResult {
  diffId: Digest;
  /** False when the cache had the layer: no source file was read. */
  built: boolean;
}

/**
 * The layer made of `entries`: found in the cache by its fingerprint, or
 * built in this thread (tar, hash, encode, write) into the store and
 * recorded. Byte for byte the layer `writeLayer` makes of the same entries.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * import type { TarEntry } from "../tar/entry.ts";
 *
 * declare const store: BlobStore;
 * declare const entries: TarEntry[]; // e.g. storeLayerEntries(paths, settings)
 * const first = await buildLayerInThread(store, entries, { encoding: "none" });
 * const again = await buildLayerInThread(store, entries, { encoding: "zstd" });
 * again.diffId === first.diffId && !again.built; // true: found by its fingerprint
 * ```
 */
export async function buildLayerInThread(
  store: BlobStore,
  entries: readonly TarEntry[],
  options: LayerBuildOptions,
): Promise<LayerBuildResult> {
  const recordSize = options.recordSize ?? 10240;
  const fingerprint = fingerprintEntries(entries, {
    recordSize,
    extra: options.fingerprintExtra ?? null,
  });
  const found = fingerprint ? findLayer(store, fingerprint) : undefined;
  if (found) return { diffId: found, built: false };
  const codec = await compressorId(options.encoding);
  const tmp = options.tempFile ?? store.tempFile();
  let writer: BlobWriter | undefined;
  try {
    writer = new BlobWriter(tmp, options.encoding, options.zstdThreads);
    const onBytes = options.onBytes;
    for (const chunk of writeTarSync(entries, { recordSize, pool: chunkPool })) {
      onBytes?.(chunk.length);
      await writer.write(chunk);
      // The writer keeps nothing of a chunk once written: its buffer serves the next layer too.
      if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
        chunkPool.give(chunk.buffer as ArrayBuffer);
      }
    }
    const { diffId, digest } = await writer.finish();
    const blob = store.commit(tmp, digest);
    recordEncoding(store, diffId, codec, blob);
    if (fingerprint) rememberLayer(store, fingerprint, diffId);
    return { diffId, built: true };
  } catch (error) {
    writer?.abort();
    discardTemp(tmp);
    throw error;
  }
}
