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
import {
  checkFreeSpace,
  type ExpansionBudget,
  FREE_SPACE_CHECK_BYTES,
  inputLimits,
} from "../host/input_limits.ts";
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

/** What a blob is checked against while it streams: its announced digest and size. */
export interface ExpectedBlob {
  /** The digest the blob was announced with. */
  digest: Digest;
  /** The size it was announced with, when known. */
  size?: number;
}

/**
 * Hashes a blob's bytes as they stream and checks them against `expected`:
 * too many bytes fail at once, a wrong digest or size at {@link BlobCheck.finish}.
 * Shared by every {@link BlobSink}, so each refuses the same blobs.
 *
 * @example
 * ```ts
 * const check = new BlobCheck("layer 1");
 * check.update(new TextEncoder().encode("hello"));
 * check.finish(); // { digest: "sha256:2cf2...", size: 5, compressor: "none" }
 * ```
 */
export class BlobCheck {
  readonly #hash = new Sha256Counter();
  #head: Uint8Array | undefined;

  /**
   * A check of one blob.
   *
   * @param what names the blob in errors
   * @param expected the digest and size it was announced with, if any
   */
  constructor(readonly what: string, readonly expected?: ExpectedBlob) {}

  /** Bytes seen so far. */
  get size(): number {
    return this.#hash.size;
  }

  /** Counts the next chunk; throws a {@link DigestMismatchError} past the expected size. */
  update(chunk: Uint8Array): void {
    if (!this.#head && chunk.length > 0) this.#head = chunk.slice(0, 8);
    this.#hash.update(chunk);
    const size = this.expected?.size;
    if (size !== undefined && this.#hash.size > size) {
      throw new DigestMismatchError(this.what, `${size} bytes`, `more than that`);
    }
  }

  /** The blob's digest, size and compression; throws a {@link DigestMismatchError} when they are not as expected. */
  finish(): { digest: Digest; size: number; compressor: Compressor } {
    const digest = this.#hash.digest();
    const expected = this.expected;
    if (
      expected &&
      (digest !== expected.digest ||
        (expected.size !== undefined && this.#hash.size !== expected.size))
    ) {
      throw new DigestMismatchError(
        this.what,
        `${expected.digest}${expected.size !== undefined ? `, ${expected.size} bytes` : ""}`,
        `${digest}, ${this.#hash.size} bytes`,
      );
    }
    const kind = detectCompression(this.#head ?? new Uint8Array());
    return { digest, size: this.#hash.size, compressor: kind === "gzip" ? "gz" : kind };
  }
}

/** Options of {@link BlobSink.take}. */
export interface TakeOptions {
  /** Names the blob in errors. */
  what: string;
  /** The digest and size the blob was announced with, checked while it streams. */
  expected?: ExpectedBlob;
  /** What the image's layers may still expand to, when a sink decompresses them as they stream. */
  budget?: ExpansionBudget;
  /** Names the blob in the budget's message, as the reader names its layers. Default: `what`. */
  member?: string;
}

/**
 * Where the blobs of an image being read go. Readers (archives, layouts,
 * registries) hand every blob to a sink as it streams; {@link storeSink}
 * keeps them in the cache to build on, while `inspect` reads each layer as it
 * passes and keeps only what it learned, so a 10 GiB image needs no 10 GiB
 * of cache.
 *
 * @example
 * ```ts
 * import { createReadStream } from "node:fs";
 * declare const sink: BlobSink;
 * const blob = await sink.take(createReadStream("layer.tar.gz"), { what: "layer 1" });
 * const diffId = await sink.diffId(blob);
 * ```
 */
export interface BlobSink {
  /** Takes a blob's bytes as they stream, checked against `options.expected`; every byte is read. */
  take(source: AsyncIterable<Uint8Array>, options: TakeOptions): Promise<IngestedBlob>;
  /** The diff_id (sha256 of the uncompressed bytes) of a blob taken; `options` count decompression. */
  diffId(blob: IngestedBlob, options?: DecompressOptions): Promise<Digest>;
  /** The bytes of a small blob taken (a config, a manifest); `what` names it in errors. */
  bytes(blob: IngestedBlob, what: string): Uint8Array;
}

/**
 * The sink that keeps every blob in `store` ({@link ingestBlob}), its diff_id
 * remembered there ({@link diffIdOf}).
 *
 * @example
 * ```ts
 * import { BlobStore } from "./blob_store.ts";
 * const sink = storeSink(BlobStore.open());
 * const blob = await sink.take((async function* () { yield new TextEncoder().encode("{}"); })(), { what: "config" });
 * new TextDecoder().decode(sink.bytes(blob, "config")); // "{}"
 * ```
 */
export function storeSink(store: BlobStore): BlobSink {
  return {
    take: (source, options) => ingestBlob(store, source, options),
    diffId: (blob, options) => diffIdOf(store, blob, options),
    bytes: (blob) => store.readBytes(blob.digest),
  };
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
  options: { what: string; expected?: ExpectedBlob },
): Promise<IngestedBlob> {
  const expected = options.expected;
  if (expected && store.has(expected.digest)) {
    // Already verified when it was stored; drain the source so a caller reading an archive can move on.
    for await (const _ of source) { /* skip */ }
    return await storedBlob(store, options.what, expected);
  }
  const tmp = store.tempFile();
  const check = new BlobCheck(options.what, expected);
  const fd = openSync(tmp, "w");
  const minFree = inputLimits().minFreeBytes;
  let sinceCheck = FREE_SPACE_CHECK_BYTES;
  let checked;
  try {
    try {
      for await (const chunk of source) {
        sinceCheck += chunk.length;
        if (sinceCheck >= FREE_SPACE_CHECK_BYTES) {
          // A foreign blob must not fill the disk the cache is on.
          checkFreeSpace(tmp, options.what, "writing it into the cache", minFree);
          sinceCheck = 0;
        }
        check.update(chunk);
        writeAll(fd, chunk);
      }
    } finally {
      closeSync(fd);
    }
    checked = check.finish();
  } catch (error) {
    discardTemp(tmp);
    throw error;
  }
  const ref = store.commit(tmp, checked.digest);
  return { ...ref, compressor: checked.compressor };
}

/**
 * A blob already in the store, as {@link ingestBlob} returns it; throws a
 * {@link DigestMismatchError} when its size is not the one expected.
 *
 * @example
 * ```ts
 * import type { BlobStore } from "./blob_store.ts";
 * declare const store: BlobStore;
 * const blob = await storedBlob(store, "layer 1", { digest: `sha256:${"a".repeat(64)}` });
 * ```
 */
export async function storedBlob(
  store: BlobStore,
  what: string,
  expected: ExpectedBlob,
): Promise<IngestedBlob> {
  const size = store.size(expected.digest);
  if (expected.size !== undefined && expected.size !== size) {
    throw new DigestMismatchError(
      what,
      `${expected.digest}, ${expected.size} bytes`,
      `${expected.digest}, ${size} bytes`,
    );
  }
  return { digest: expected.digest, size, compressor: await compressionOf(store, expected.digest) };
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
