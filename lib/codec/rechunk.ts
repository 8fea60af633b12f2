/**
 * Re-chunking a byte stream into fixed-size pieces.
 *
 * The gzip stream is fed fixed 1 MiB pieces: few calls into node:zlib, and
 * its output does not depend on how the producer happened to chunk the tar.
 *
 * @module
 */

/**
 * Splits and joins incoming chunks into pieces of exactly `size` bytes (the last may be shorter).
 *
 * @example
 * ```ts
 * const r = new Rechunker(4);
 * r.push(new Uint8Array(6)); // -> [4 bytes]
 * r.finish(); // -> [2 bytes]
 * ```
 */
export class Rechunker {
  #buf: Uint8Array;
  #used = 0;
  /** Pieces handed back by {@link recycle}, reused instead of allocating (flat memory). */
  readonly #free: Uint8Array[] = [];
  /**
   * @param size piece size
   * @param copy always copy into pieces of our own (never hand out views of
   *   the input), so the caller may reuse its chunk as soon as `push` returns
   */
  constructor(readonly size: number, readonly copy = false) {
    this.#buf = new Uint8Array(size);
  }

  /** Adds `chunk`; returns the pieces completed by it. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.copy && this.#used === 0 && chunk.length - offset >= this.size) {
        out.push(chunk.subarray(offset, offset + this.size));
        offset += this.size;
        continue;
      }
      const n = Math.min(this.size - this.#used, chunk.length - offset);
      this.#buf.set(chunk.subarray(offset, offset + n), this.#used);
      this.#used += n;
      offset += n;
      if (this.#used === this.size) {
        out.push(this.#buf);
        this.#buf = this.#free.pop() ?? new Uint8Array(this.size);
        this.#used = 0;
      }
    }
    return out;
  }

  /**
   * Hands back a full piece this rechunker made, once its consumer is done
   * with it (e.g. in the compressor's write callback), for reuse.
   */
  recycle(piece: Uint8Array): void {
    if (
      piece.byteOffset === 0 && piece.byteLength === this.size &&
      piece.buffer.byteLength === this.size && this.#free.length < 4
    ) {
      this.#free.push(piece);
    }
  }

  /** The remaining partial piece, if any. */
  finish(): Uint8Array[] {
    if (this.#used === 0) return [];
    const last = this.#buf.subarray(0, this.#used);
    this.#used = 0;
    return [last];
  }
}
