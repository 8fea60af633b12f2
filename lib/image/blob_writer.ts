/**
 * The back half of the layer pipeline, shared by the worker thread and the
 * in-thread fallback: hash the uncompressed bytes (diff_id), compress, hash
 * the stored bytes (digest), append to a file.
 *
 * @module
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { once } from "node:events";
import { type Compressor, createCompressor } from "../codec/compress.ts";
import { Rechunker } from "../codec/rechunk.ts";
import { type Digest, Sha256Counter } from "../codec/sha256.ts";

/** What {@link BlobWriter.finish} returns. */
export interface BlobWriterResult {
  diffId: Digest;
  digest: Digest;
  size: number;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
}

/**
 * Hashes, compresses and writes a stream of uncompressed tar bytes to `path`.
 *
 * @example
 * ```ts
 * const w = new BlobWriter("/tmp/blob", "zstd");
 * await w.write(chunk);
 * const { diffId, digest, size } = await w.finish();
 * ```
 */
export class BlobWriter {
  readonly #fd: number;
  readonly #diff = new Sha256Counter();
  readonly #stored = new Sha256Counter();
  readonly #compress;
  // Copying pieces lets the caller reuse its chunk as soon as write() resolves.
  readonly #rechunk = new Rechunker(1 << 20, true);
  #failure: Error | undefined;
  #ended: Promise<unknown> | undefined;

  constructor(path: string, readonly compressor: Compressor) {
    this.#fd = openSync(path, "w");
    this.#compress = createCompressor(compressor);
    if (this.#compress) {
      this.#compress.on("data", (out: Uint8Array) => {
        this.#stored.update(out);
        writeAll(this.#fd, out);
      });
      this.#compress.on("error", (e: Error) => (this.#failure ??= e));
      this.#ended = once(this.#compress, "end");
    }
  }

  /**
   * Feeds uncompressed bytes; resolves when the compressor can take more.
   * The chunk is not referenced after the returned promise resolves.
   */
  async write(chunk: Uint8Array, _transfer?: boolean): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#diff.update(chunk);
    if (!this.#compress) {
      writeAll(this.#fd, chunk);
      return;
    }
    for (const piece of this.#rechunk.push(chunk)) {
      // The write callback runs once the compressor has consumed the piece: then it can be reused.
      if (!this.#compress.write(piece, () => this.#rechunk.recycle(piece))) await once(this.#compress, "drain");
    }
  }

  /** Flushes, closes the file and returns the digests. */
  async finish(): Promise<BlobWriterResult> {
    try {
      if (this.#compress) {
        for (const piece of this.#rechunk.finish()) this.#compress.write(piece);
        this.#compress.end();
        await this.#ended;
        if (this.#failure) throw this.#failure;
      }
    } finally {
      closeSync(this.#fd);
    }
    const diffId = this.#diff.digest();
    if (!this.#compress) return { diffId, digest: diffId, size: this.#diff.size };
    return { diffId, digest: this.#stored.digest(), size: this.#stored.size };
  }

  /** Abandons the write (the caller removes the file). */
  abort(): void {
    try {
      this.#compress?.destroy();
      closeSync(this.#fd);
    } catch {
      // Already closed.
    }
  }
}
