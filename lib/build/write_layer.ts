/**
 * Layers from tar entries: one pass from entries to a blob in the store (see
 * `cache/store_tar_stream.ts`), in the encoding the outputs of this build
 * want. The cache maps a fingerprint of the entries (paths, modes, owners,
 * and each host file's identity) to the layer's diffId only, so a layer whose
 * entries were built before is returned without reading its sources, whatever
 * encoding it was first stored in; writers get other encodings from the
 * store (`cache/layer_encodings.ts`).
 *
 * @module
 */

import type { BuildSession } from "./session.ts";
import { fingerprintEntries } from "../cache/fingerprint.ts";
import { findLayer, rememberLayer } from "../cache/layer_cache.ts";
import { recordEncoding } from "../cache/layer_encodings.ts";
import { type ProgressCallback, storeTarStream } from "../cache/store_tar_stream.ts";
import { compressorId } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import type { TarEntry } from "../tar/entry.ts";
import { writeTar } from "../tar/writer.ts";
import type { Layer } from "../model/layer.ts";

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
 * Builds one layer from tar entries into the session's store, first encoded
 * as the session's `layerEncoding` (a hint: any encoding serves a later
 * build); entries built before give the cached layer without being read.
 *
 * @example
 * ```ts
 * import type { TarEntry } from "../tar/entry.ts";
 * import { BuildSession } from "./session.ts";
 *
 * declare const entries: TarEntry[];
 * const session = BuildSession.open({ layerEncoding: "gz" });
 * const layer = await writeLayer(session, entries, { comment: "app files" });
 * layer.diffId; // sha256 of the uncompressed tar, whatever the layerEncoding
 * await writeLayer(session, entries); // the same diffId, from the cache: entries not read again
 * ```
 */
export async function writeLayer(
  session: BuildSession,
  entries: readonly TarEntry[],
  options: WriteLayerOptions = {},
): Promise<Layer> {
  const { store, layerEncoding: encoding } = session;
  const recordSize = options.recordSize ?? 10240;
  const fingerprint = fingerprintEntries(entries, {
    recordSize,
    extra: options.fingerprintExtra ?? null,
  });
  const layer = (diffId: Digest): Layer => ({ diffId, comment: options.comment });
  const found = fingerprint ? findLayer(store, fingerprint) : undefined;
  if (found) return layer(found);
  const { diffId, blob } = await storeTarStream(
    store,
    (pool) => writeTar(entries, { recordSize, pool }),
    encoding,
    options.onBytes,
    entries.reduce((n, e) => n + e.size + 512, 0),
    true,
  );
  recordEncoding(store, diffId, await compressorId(encoding), blob);
  if (fingerprint) rememberLayer(store, fingerprint, diffId);
  session.markBuilt(diffId);
  return layer(diffId);
}
