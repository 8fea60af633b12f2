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
import { blockPadding, encodeHeaderView } from "./header.ts";

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
 * A host file's bytes read into the chunks, one chunk at a time, so a large
 * file never sits in memory and a caller can hand out each full chunk.
 */
class HostBodyReader {
  readonly #file: SequentialReader;
  #position = 0;
  #atEnd = false;

  constructor(readonly path: string, readonly size: number) {
    this.#file = openSequential(path);
  }

  /**
   * Reads until a chunk is full or the file is done; true when done. No
   * fstat: each read asks for one byte more than is left, so a short read
   * proves the end of the file and a long one that the file grew.
   */
  step(out: ChunkAssembler): boolean {
    const size = this.size;
    while (this.#position < size) {
      const want = Math.min(size - this.#position + 1, out.room());
      const got = out.readFrom(this.#file, want);
      if (got === 0) throw new SourceChangedError(this.path, size, this.#position);
      this.#position += got;
      if (this.#position > size) throw new SourceChangedError(this.path, size, this.#position);
      this.#atEnd = got < want;
      if (out.ready.length > 0) return false;
    }
    if (!this.#atEnd && this.#file.read(new Uint8Array(1), 0, 1) > 0) {
      throw new SourceChangedError(this.path, size, size + 1);
    }
    return true;
  }

  close(): void {
    this.#file.close();
  }
}

/** Checks an entry without a body or with bytes, and appends the bytes. */
function appendPlainBody(entry: TarEntry, out: ChunkAssembler): void {
  const body = entry.body;
  if (!body) {
    if (entry.size !== 0) {
      throw new TypeError(`tar entry ${entry.path}: size ${entry.size} but no body`);
    }
    return;
  }
  if (body.kind !== "bytes") return;
  if (body.bytes.length !== entry.size) {
    throw new TypeError(
      `tar entry ${entry.path}: size ${entry.size} but ${body.bytes.length} bytes given`,
    );
  }
  out.push(body.bytes);
}

/**
 * Writes an entry's content into `out`, yielding finished chunks as it goes:
 * a large file never sits in memory, whatever its size.
 */
async function* writeBody(entry: TarEntry, out: ChunkAssembler): AsyncGenerator<Uint8Array> {
  const body = entry.body;
  if (!body || body.kind === "bytes") {
    appendPlainBody(entry, out);
    yield* out.drain();
    return;
  }
  if (body.kind === "host" || body.file !== undefined) {
    const reader = new HostBodyReader(body.kind === "host" ? body.path : body.file!, entry.size);
    try {
      while (!reader.step(out)) yield* out.drain();
    } finally {
      reader.close();
    }
    yield* out.drain();
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
 * {@link writeTar} for entries whose bodies need no waiting (bytes, host
 * files, and streams of a `file`; another `stream` body is a TypeError): the same bytes, made without a
 * promise per entry, which is most of the cost for small files. Chunks are
 * handed out as in {@link writeTar}.
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * import type { TarEntry } from "./entry.ts";
 * declare const entries: TarEntry[]; // e.g. storeLayerEntries(paths, settings)
 * const hash = createHash("sha256");
 * for (const chunk of writeTarSync(entries)) hash.update(chunk);
 * hash.digest("hex"); // the diff_id's hex digits
 * ```
 */
export function* writeTarSync(
  entries: Iterable<TarEntry>,
  options: TarWriteOptions = {},
): Generator<Uint8Array> {
  const recordSize = options.recordSize ?? 10240;
  const out = new ChunkAssembler(options.chunkSize ?? 1 << 20, options.pool);
  const ready = out.ready;
  for (const entry of entries) {
    out.push(encodeHeaderView(entry));
    const body = entry.body;
    const file = body?.kind === "host"
      ? body.path
      : body?.kind === "stream"
      ? body.file
      : undefined;
    if (file !== undefined) {
      const reader = new HostBodyReader(file, entry.size);
      try {
        while (!reader.step(out)) {
          while (ready.length > 0) yield ready.shift()!;
        }
      } finally {
        reader.close();
      }
    } else if (body?.kind === "stream") {
      throw new TypeError(
        `tar entry ${entry.path}: a stream body needs writeTar, not writeTarSync`,
      );
    } else {
      appendPlainBody(entry, out);
    }
    if (entry.type === "file") out.zeros(blockPadding(entry.size));
    while (ready.length > 0) yield ready.shift()!;
  }
  out.zeros(2 * BLOCK_SIZE);
  const rest = out.total % recordSize;
  if (rest !== 0) out.zeros(recordSize - rest);
  out.flush();
  while (ready.length > 0) yield ready.shift()!;
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
  if (
    Array.isArray(entries) &&
    !entries.some((e: TarEntry) => e.body?.kind === "stream" && e.body.file === undefined)
  ) {
    yield* writeTarSync(entries as TarEntry[], options);
    return;
  }
  const recordSize = options.recordSize ?? 10240;
  const out = new ChunkAssembler(options.chunkSize ?? 1 << 20, options.pool);
  for await (const entry of entries) {
    out.push(encodeHeaderView(entry));
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
