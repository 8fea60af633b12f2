/**
 * Reusing chunk buffers once their consumer is done with them, so a stream
 * of any length allocates a bounded number of buffers.
 *
 * @module
 */

/** Buffers a sink hands back for reuse once it is done with them. */
export interface BufferPool {
  /** A recycled buffer of exactly `size` bytes, or undefined. */
  take(size: number): Uint8Array | undefined;
}

/**
 * A {@link BufferPool} holding at most `capacity` returned buffers.
 *
 * @example
 * ```ts
 * const pool = new BufferRecycler(4);
 * const chunk = new Uint8Array(1 << 20);
 * pool.give(chunk.buffer);
 * pool.take(1 << 20); // that buffer again, if it was 1 MiB
 * ```
 */
export class BufferRecycler implements BufferPool {
  readonly #free: ArrayBuffer[] = [];
  constructor(readonly capacity: number) {}

  take(size: number): Uint8Array | undefined {
    const i = this.#free.findIndex((b) => b.byteLength === size);
    return i < 0 ? undefined : new Uint8Array(this.#free.splice(i, 1)[0]);
  }

  /** Offers a buffer nothing references any more; dropped when the pool is full. */
  give(buffer: ArrayBuffer): void {
    if (this.#free.length < this.capacity) this.#free.push(buffer);
  }
}
