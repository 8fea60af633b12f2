/**
 * Ingesting foreign blobs (layers of a base image, pulled blobs) into the
 * blob store: written to a temp file while hashed, verified, renamed into
 * place; then, when compressed, decompressed once more to learn the diff_id.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";
import { writeAll } from "../host/write_all.ts";
import type { BlobRef, BlobStore } from "./blob_store.ts";
import type { Compressor } from "../codec/compress.ts";
import { decompress, type DecompressOptions, detectCompression } from "../codec/decompress.ts";
import { checkFreeSpace, FREE_SPACE_CHECK_BYTES, inputLimits } from "../host/input_limits.ts";
import { type Digest, Sha256Counter } from "../codec/sha256.ts";
import { discardTemp } from "../host/temp_files.ts";

/** A stored foreign blob and what is known about its content. */
export interface IngestedBlob extends BlobRef {
  compressor: Compressor;
}

/** Raised when a blob's bytes do not match the digest or size it was announced with. */
export class DigestMismatchError extends Error {
  constructor(what: string, expected: string, actual: string) {
    super(
      `${what}: content does not match its digest (expected ${expected}, got ${actual}); the source is corrupt or was tampered with`,
    );
    this.name = "DigestMismatchError";
  }
}

/**
 * Writes `source` into the store, verifying `expected` digest and size when given.
 * Nothing is kept when verification fails, or when the disk the store is on
 * would keep less than `minFreeBytes` free (see `host/input_limits.ts`).
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * import type { BlobStore } from "./blob_store.ts";
 * import type { Digest } from "../codec/sha256.ts";
 * declare const store: BlobStore;
 * declare const digest: Digest; // as the manifest announces it
 * const blob = await ingestBlob(store, createReadStream("layer.tar.gz"), {
 *   what: "layer 1",
 *   expected: { digest, size: 2_811_969 },
 * });
 * ```
 */
export async function ingestBlob(
  store: BlobStore,
  source: AsyncIterable<Uint8Array>,
  options: { what: string; expected?: { digest: Digest; size?: number } },
): Promise<IngestedBlob> {
  const expected = options.expected;
  if (expected && store.has(expected.digest)) {
    // Already verified when it was stored; drain the source so a caller reading an archive can move on.
    for await (const _ of source) { /* skip */ }
    const size = store.size(expected.digest);
    if (expected.size !== undefined && expected.size !== size) {
      throw new DigestMismatchError(
        options.what,
        `${expected.digest}, ${expected.size} bytes`,
        `${expected.digest}, ${size} bytes`,
      );
    }
    return {
      ...expected,
      size,
      compressor: await compressionOf(store, expected.digest),
    };
  }
  const tmp = store.tempFile();
  const hash = new Sha256Counter();
  let head: Uint8Array | undefined;
  const fd = openSync(tmp, "w");
  const minFree = inputLimits().minFreeBytes;
  let sinceCheck = FREE_SPACE_CHECK_BYTES;
  try {
    for await (const chunk of source) {
      if (!head) head = chunk.slice(0, 8);
      sinceCheck += chunk.length;
      if (sinceCheck >= FREE_SPACE_CHECK_BYTES) {
        // A foreign blob must not fill the disk the cache is on.
        checkFreeSpace(tmp, options.what, "writing it into the cache", minFree);
        sinceCheck = 0;
      }
      hash.update(chunk);
      writeAll(fd, chunk);
      if (expected?.size !== undefined && hash.size > expected.size) {
        throw new DigestMismatchError(options.what, `${expected.size} bytes`, `more than that`);
      }
    }
  } catch (error) {
    closeSync(fd);
    discardTemp(tmp);
    throw error;
  }
  closeSync(fd);
  const digest = hash.digest();
  if (
    expected &&
    (digest !== expected.digest || (expected.size !== undefined && hash.size !== expected.size))
  ) {
    discardTemp(tmp);
    throw new DigestMismatchError(
      options.what,
      `${expected.digest}${expected.size !== undefined ? `, ${expected.size} bytes` : ""}`,
      `${digest}, ${hash.size} bytes`,
    );
  }
  const ref = store.commit(tmp, digest);
  const kind = detectCompression(head ?? new Uint8Array());
  return { ...ref, compressor: kind === "gzip" ? "gz" : kind };
}

async function compressionOf(store: BlobStore, digest: Digest): Promise<Compressor> {
  for await (const chunk of store.read(digest)) {
    const kind = detectCompression(chunk.subarray(0, 8));
    return kind === "gzip" ? "gz" : kind;
  }
  return "none";
}

/**
 * The diff_id (sha256 of the uncompressed content) of a stored blob, computed
 * once and remembered in the store. `options` name the blob in errors and
 * count what it expands to against a budget (a decompression bomb is
 * refused while it is read).
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * declare const store: BlobStore;
 * declare const blob: IngestedBlob; // from ingestBlob
 * const diffId = await diffIdOf(store, blob);
 * ```
 */
export async function diffIdOf(
  store: BlobStore,
  blob: IngestedBlob,
  options: DecompressOptions = {},
): Promise<Digest> {
  if (blob.compressor === "none") return blob.digest;
  const known = store.getRecord<{ diffId: Digest }>("diffids", blob.digest.slice(7));
  if (known) return known.diffId;
  const hash = new Sha256Counter();
  for await (const chunk of decompress(store.read(blob.digest), options)) hash.update(chunk);
  const diffId = hash.digest();
  store.putRecord("diffids", blob.digest.slice(7), { diffId });
  return diffId;
}
