/**
 * Main-thread side of the layer worker: the same interface as
 * {@link BlobWriter}, with the work done on another core.
 *
 * @module
 */

import process from "node:process";
import { Worker } from "node:worker_threads";
import type { Compressor } from "../codec/compress.ts";
import { closeSync, openSync } from "node:fs";
import { BlobWriter, type BlobWriterResult } from "./blob_writer.ts";
import { writeAll } from "../host/write_all.ts";
import { type BufferPool, BufferRecycler } from "../host/buffer_pool.ts";

/** Either writer: in this thread or in a worker. */
export interface ChunkSink {
  /** Recycled buffers, for producers that can fill them (see `writeTar`'s `pool`). */
  readonly pool?: BufferPool;
  /**
   * Takes the next chunk. With `transfer`, the chunk's whole buffer may be
   * handed to another thread: pass it only for buffers nothing else uses.
   */
  write(chunk: Uint8Array, transfer?: boolean): Promise<void>;
  finish(): Promise<BlobWriterResult>;
  abort(): void;
}

/** At most this many bytes are in flight to the worker before `write` waits. */
const MAX_IN_FLIGHT = 16 << 20;

/**
 * A {@link ChunkSink} backed by a worker thread. Chunks written with
 * `transfer` are moved, not copied: the caller must not touch their buffer afterwards.
 *
 * @example
 * ```ts
 * import type { TarEntry } from "../tar/entry.ts";
 * import { writeTar } from "../tar/writer.ts";
 * declare const entries: TarEntry[];
 * const sink = new ThreadedBlobWriter("/tmp/blob", "gz");
 * for await (const chunk of writeTar(entries, { pool: sink.pool })) await sink.write(chunk, true);
 * const { diffId, digest } = await sink.finish();
 * ```
 */
export class ThreadedBlobWriter implements ChunkSink {
  readonly #worker: Worker;
  /**
   * For `none` this thread writes the file and the worker only hashes: the
   * hash is the slower half, so the two halves then take about equal time.
   */
  #fd: number | null;
  #inFlight = 0;
  #waiter: (() => void) | undefined;
  #error: Error | undefined;
  #result: Promise<BlobWriterResult>;
  readonly pool = new BufferRecycler(64);

  constructor(path: string, compressor: Compressor) {
    this.#fd = compressor === "none" ? openSync(path, "w") : null;
    try {
      this.#worker = new Worker(new URL("./layer_worker.ts", import.meta.url), {
        workerData: { path: this.#fd === null ? path : null, compressor },
      });
    } catch (error) {
      this.#closeFile(); // the caller falls back to an in-thread writer, which opens the file again
      throw error;
    }
    this.#result = new Promise((resolve, reject) => {
      this.#worker.on(
        "message",
        (m: { ack?: number; buffer?: ArrayBuffer; done?: BlobWriterResult; error?: string }) => {
          if (m.ack !== undefined) {
            this.#inFlight -= m.ack;
            if (m.buffer) this.pool.give(m.buffer);
            this.#wake();
          } else if (m.done) {
            resolve(m.done);
          } else if (m.error) {
            this.#error = new Error(m.error);
            this.#wake();
            reject(this.#error);
          }
        },
      );
      this.#worker.on("error", (e) => {
        this.#error = e;
        this.#wake();
        reject(e);
      });
    });
    this.#result.catch(() => {}); // observed through write/finish
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async write(chunk: Uint8Array, transfer = false): Promise<void> {
    if (this.#error) throw this.#error;
    // Transferring detaches the whole buffer: copy unless the caller owns it and it is not mostly waste.
    // (A copy by `new Uint8Array`: a Buffer's `slice()` is a view, and transferring it would detach
    // the producer's buffer, such as a zlib or zstd decoder's output buffer.)
    if (this.#fd !== null) writeAll(this.#fd, chunk);
    const owned = transfer && chunk.buffer.byteLength <= 2 * chunk.byteLength
      ? chunk
      : new Uint8Array(chunk);
    this.#inFlight += owned.byteLength;
    const buffer = owned.buffer as ArrayBuffer;
    this.#worker.postMessage({ buffer, offset: owned.byteOffset, length: owned.byteLength }, [
      buffer,
    ]);
    if (this.#inFlight > MAX_IN_FLIGHT) {
      // Wait until half the window is back: acknowledgements (and the buffers
      // they return) are then taken in batches, so the pool refills and the
      // producer allocates nothing new.
      while (this.#inFlight > MAX_IN_FLIGHT / 2 && !this.#error) {
        await new Promise<void>((r) => (this.#waiter = r));
      }
    }
    if (this.#error) throw this.#error;
  }

  async finish(): Promise<BlobWriterResult> {
    this.#worker.postMessage({ end: true });
    try {
      return await this.#result;
    } finally {
      this.#closeFile();
      await this.#worker.terminate();
    }
  }

  abort(): void {
    this.#closeFile();
    void this.#worker.terminate();
  }

  #closeFile(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/** Below this many bytes a worker costs more to start than it saves. */
const THREAD_THRESHOLD = 32 << 20;

/**
 * A worker-backed sink for large streams, or the in-thread one for small
 * streams, for zstd (libzstd compresses on threads of its own, so another
 * thread would only add copies and memory), when `DOCKWRIGHT_THREADS=0`, or
 * when a worker cannot be started.
 *
 * @example
 * ```ts
 * const sink = openChunkSink("/tmp/blob", "zstd", 1 << 30);
 * ```
 */
export function openChunkSink(
  path: string,
  compressor: Compressor,
  sizeHint = Infinity,
): ChunkSink {
  if (
    process.env.DOCKWRIGHT_THREADS !== "0" && compressor !== "zstd" && sizeHint >= THREAD_THRESHOLD
  ) {
    try {
      return new ThreadedBlobWriter(path, compressor);
    } catch {
      // Fall through to the in-thread writer.
    }
  }
  return new BlobWriter(path, compressor);
}
