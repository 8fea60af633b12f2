/**
 * The back half of the layer pipeline, shared by the worker thread and the
 * in-thread writer: hash the uncompressed bytes (diff_id), compress, hash
 * the stored bytes (digest), append to a file.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";
import { writeAll } from "../host/write_all.ts";
import { BufferRecycler } from "../host/buffer_pool.ts";
import { once } from "node:events";
import { type Compressor, createCompressor } from "../codec/compress.ts";
import { ZstdCompressor } from "../codec/libzstd.ts";
import { Rechunker } from "../codec/rechunk.ts";
import { type Digest, Sha256Counter } from "../codec/sha256.ts";

/** What {@link BlobWriter.finish} returns. */
export interface BlobWriterResult {
  diffId: Digest;
  digest: Digest;
  size: number;
}

/**
 * Hashes, compresses and writes a stream of uncompressed tar bytes to `path`
 * (`null`: only hash, for `none` when another thread writes the bytes).
 *
 * @example
 * ```ts
 * const w = new BlobWriter("/tmp/blob", "zstd");
 * await w.write(new TextEncoder().encode("hello\n"));
 * const { diffId, digest, size } = await w.finish();
 * ```
 */
export class BlobWriter {
  readonly #fd: number | null;
  readonly #diff = new Sha256Counter();
  readonly #stored = new Sha256Counter();
  /** gzip: a node:zlib stream. */
  readonly #compress;
  /** zstd: libzstd, called directly (it copies the input and compresses on its own threads). */
  readonly #zstd: Promise<ZstdCompressor> | undefined;
  /** Chunks handed over with `transfer`, free again once written, for the producer (`writeTar`'s `pool`). */
  readonly pool = new BufferRecycler(4);
  // Copying pieces lets the caller reuse its chunk as soon as write() resolves.
  readonly #rechunk = new Rechunker(1 << 20, true);
  #failure: Error | undefined;
  #ended: Promise<unknown> | undefined;

  /**
   * A writer to `path` in `compressor`; `zstdThreads` is libzstd's worker
   * count (default: one per core, at most 8), which never changes the bytes:
   * writers that run side by side, one per core, take one each.
   */
  constructor(path: string | null, readonly compressor: Compressor, zstdThreads?: number) {
    if (path === null && compressor !== "none") {
      throw new TypeError("a compressed blob needs a path");
    }
    this.#fd = path === null ? null : openSync(path, "w");
    if (compressor === "zstd") {
      this.#zstd = ZstdCompressor.open(3, zstdThreads);
      this.#zstd.catch(() => {}); // reported by write/finish
      this.#compress = null;
      return;
    }
    this.#compress = createCompressor(compressor);
    if (this.#compress) {
      this.#compress.on("data", (out: Uint8Array) => this.#store(out));
      this.#compress.on("error", (e: Error) => (this.#failure ??= e));
      this.#ended = once(this.#compress, "end");
    }
  }

  #store(out: Uint8Array): void {
    this.#stored.update(out);
    writeAll(this.#fd!, out);
  }

  /**
   * Feeds uncompressed bytes; resolves when the compressor can take more.
   * The chunk is not referenced after the returned promise resolves; with
   * `transfer` (the caller gives the whole buffer up) it is offered again
   * through {@link pool}.
   */
  async write(chunk: Uint8Array, transfer = false): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#diff.update(chunk);
    if (this.#zstd) {
      (await this.#zstd).push(chunk, (part) => this.#store(part));
    } else if (!this.#compress) {
      if (this.#fd !== null) writeAll(this.#fd, chunk);
    } else {
      await this.#feed(chunk);
    }
    if (transfer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
      this.pool.give(chunk.buffer as ArrayBuffer);
    }
  }

  async #feed(chunk: Uint8Array): Promise<void> {
    const compress = this.#compress!;
    for (const piece of this.#rechunk.push(chunk)) {
      // The write callback runs once the compressor has consumed the piece: then it can be reused.
      if (!compress.write(piece, () => this.#rechunk.recycle(piece))) await once(compress, "drain");
    }
  }

  /** Flushes, closes the file and returns the digests. */
  async finish(): Promise<BlobWriterResult> {
    try {
      if (this.#zstd) {
        (await this.#zstd).end((part) => this.#store(part));
      } else if (this.#compress) {
        for (const piece of this.#rechunk.finish()) this.#compress.write(piece);
        this.#compress.end();
        await this.#ended;
        if (this.#failure) throw this.#failure;
      }
    } finally {
      if (this.#fd !== null) closeSync(this.#fd);
    }
    const diffId = this.#diff.digest();
    if (this.compressor === "none") return { diffId, digest: diffId, size: this.#diff.size };
    return { diffId, digest: this.#stored.digest(), size: this.#stored.size };
  }

  /** Abandons the write (the caller removes the file). */
  abort(): void {
    try {
      this.#compress?.destroy();
      this.#zstd?.then((z) => z.free(), () => {});
      if (this.#fd !== null) closeSync(this.#fd);
    } catch {
      // Already closed.
    }
  }
}
