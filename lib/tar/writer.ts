/**
 * Deterministic tar writer: turns entries into a stream of byte chunks.
 *
 * Every header byte comes from the entry (see `header.ts`); the archive ends
 * with two zero blocks and is padded to a whole record (10240 bytes, like GNU
 * tar and Python's `tarfile`). Output is gathered into chunks of about 1 MiB so
 * the hashing and compression stages downstream see few, large writes.
 *
 * @module
 */

import { openSequential, type SequentialReader } from "../host/fast_fs.ts";
import { BLOCK_SIZE, type TarEntry } from "./entry.ts";
import { blockPadding, encodeHeader } from "./header.ts";

/** Options of {@link writeTar}. */
export interface TarWriteOptions {
  /** The archive is padded with zeros to a multiple of this many bytes. Default 10240. */
  recordSize?: number;
  /** Target size of the emitted chunks. Default 1 MiB. */
  chunkSize?: number;
  /** Where to get recycled chunk buffers (handed back by the consumer); fresh ones otherwise. */
  pool?: { take(size: number): Uint8Array | undefined };
}

/** Raised when a host file changes size while it is being archived. */
export class SourceChangedError extends Error {
  constructor(readonly path: string, expected: number, actual: number) {
    super(
      `${path} changed while it was being archived (expected ${expected} bytes, found ${
        actual > expected ? "more" : actual
      }); ` +
        `make sure nothing writes to the image's source files during a build`,
    );
    this.name = "SourceChangedError";
  }
}

/**
 * Collects everything into fresh buffers of `chunkSize` bytes, so each chunk
 * handed out belongs to the consumer (it may be kept, or transferred to a worker).
 */
class ChunkAssembler {
  #buf: Uint8Array;
  #used = 0;
  readonly ready: Uint8Array[] = [];
  constructor(readonly chunkSize: number, readonly pool?: TarWriteOptions["pool"]) {
    this.#buf = this.#fresh();
  }

  #fresh(): Uint8Array {
    return this.pool?.take(this.chunkSize) ?? new Uint8Array(this.chunkSize);
  }
  /** Total bytes emitted or pending. */
  total = 0;

  push(bytes: Uint8Array): void {
    this.total += bytes.length;
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#used === this.chunkSize) this.flush();
      const n = Math.min(this.chunkSize - this.#used, bytes.length - offset);
      this.#buf.set(bytes.subarray(offset, offset + n), this.#used);
      this.#used += n;
      offset += n;
    }
  }

  zeros(n: number): void {
    this.total += n;
    while (n > 0) {
      if (this.#used === this.chunkSize) this.flush();
      const k = Math.min(this.chunkSize - this.#used, n);
      // The buffer may hold stale bytes from a read that came up short; clear explicitly.
      this.#buf.fill(0, this.#used, this.#used + k);
      this.#used += k;
      n -= k;
    }
  }

  /** Free bytes in the current buffer (a full one is handed out first, so never 0). */
  room(): number {
    if (this.#used === this.chunkSize) this.flush();
    return this.chunkSize - this.#used;
  }

  /** Reads up to `length` bytes (at most {@link room}) from `file` straight into the buffer. Returns bytes read. */
  readFrom(file: SequentialReader, length: number): number {
    const got = file.read(this.#buf, this.#used, length);
    this.#used += got;
    this.total += got;
    return got;
  }

  flush(): void {
    if (this.#used === 0) return;
    this.ready.push(this.#buf.subarray(0, this.#used));
    this.#buf = this.#fresh();
    this.#used = 0;
  }

  *drain(): Generator<Uint8Array> {
    while (this.ready.length > 0) yield this.ready.shift()!;
  }
}

/**
 * Writes an entry's content into `out`, yielding finished chunks as it goes:
 * a large file never sits in memory, whatever its size.
 */
async function* writeBody(entry: TarEntry, out: ChunkAssembler): AsyncGenerator<Uint8Array> {
  const body = entry.body;
  if (!body) {
    if (entry.size !== 0) {
      throw new TypeError(`tar entry ${entry.path}: size ${entry.size} but no body`);
    }
    return;
  }
  if (body.kind === "bytes") {
    if (body.bytes.length !== entry.size) {
      throw new TypeError(
        `tar entry ${entry.path}: size ${entry.size} but ${body.bytes.length} bytes given`,
      );
    }
    out.push(body.bytes);
    yield* out.drain();
    return;
  }
  if (body.kind === "host") {
    const file = openSequential(body.path);
    try {
      // No fstat: each read asks for one byte more than is left, so a short
      // read proves the end of the file and a long one that the file grew.
      let position = 0;
      let atEnd = false;
      while (position < entry.size) {
        const want = Math.min(entry.size - position + 1, out.room());
        const got = out.readFrom(file, want);
        if (got === 0) throw new SourceChangedError(body.path, entry.size, position);
        position += got;
        if (position > entry.size) throw new SourceChangedError(body.path, entry.size, position);
        atEnd = got < want;
        yield* out.drain();
      }
      if (!atEnd && file.read(new Uint8Array(1), 0, 1) > 0) {
        throw new SourceChangedError(body.path, entry.size, entry.size + 1);
      }
    } finally {
      file.close();
    }
    return;
  }
  let written = 0;
  for await (const piece of body.open()) {
    written += piece.length;
    if (written > entry.size) break;
    out.push(piece);
    yield* out.drain();
  }
  if (written !== entry.size) {
    throw new TypeError(
      `tar entry ${entry.path}: stream gave ${written} bytes, header says ${entry.size}`,
    );
  }
}

/**
 * Writes `entries` as a tar stream, in the order given. Every yielded chunk
 * is a view of a buffer that nothing else references (fresh, or handed back
 * through `pool` by a consumer that is done with it).
 *
 * @example
 * ```ts
 * import { writeTar } from "./writer.ts";
 * const chunks: Uint8Array[] = [];
 * for await (const c of writeTar([{ path: "hello", type: "file", mode: 0o644, uid: 0, gid: 0,
 *   uname: "", gname: "", mtime: 1, size: 2, body: { kind: "bytes", bytes: new Uint8Array([104, 105]) } }])) {
 *   chunks.push(c);
 * }
 * ```
 */
export async function* writeTar(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: TarWriteOptions = {},
): AsyncGenerator<Uint8Array> {
  const recordSize = options.recordSize ?? 10240;
  const out = new ChunkAssembler(options.chunkSize ?? 1 << 20, options.pool);
  for await (const entry of entries) {
    out.push(encodeHeader(entry));
    yield* writeBody(entry, out);
    if (entry.type === "file") out.zeros(blockPadding(entry.size));
    yield* out.drain();
  }
  out.zeros(2 * BLOCK_SIZE);
  const rest = out.total % recordSize;
  if (rest !== 0) out.zeros(recordSize - rest);
  out.flush();
  yield* out.drain();
}
