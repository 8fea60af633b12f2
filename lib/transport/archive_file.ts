/**
 * Shared plumbing for sinks that produce one tar file: member constructors and
 * an atomic, optionally compressed, streaming writer.
 *
 * @module
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { once } from "node:events";
import { type Readable, type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BlobRef, BlobStore } from "../cache/blob_store.ts";
import { fingerprintEntries } from "../cache/fingerprint.ts";
import { type Compressor, compressorId, createCompressor } from "../codec/compress.ts";
import { type Digest, Sha256Counter } from "../codec/sha256.ts";
import type { TarEntry } from "../tar/entry.ts";
import { writeTar, writeTarSync } from "../tar/writer.ts";
import { BufferRecycler } from "../host/buffer_pool.ts";
import { type FileSender, fileSender } from "../host/send_file.ts";
import { blockPadding, encodeHeaderView } from "../tar/header.ts";
import { BLOCK_SIZE } from "../tar/entry.ts";
import { discardTemp } from "../host/temp_files.ts";
import { writeAll } from "../host/write_all.ts";
import { writeAtomically } from "../host/atomic.ts";

/** Owner, mode and time of archive members. */
export interface MemberStyle {
  /** Mode of file members, e.g. `0o444`. */
  fileMode: number;
  /** Mode of folder members, e.g. `0o555`. */
  dirMode: number;
  /** mtime of every member, in seconds since the epoch. */
  mtime: number;
  /** Owner uid. Default 0. */
  uid?: number;
  /** Owner gid. Default 0. */
  gid?: number;
  /** Owner user name. Default `""`. */
  uname?: string;
  /** Owner group name. Default `""`. */
  gname?: string;
}

/**
 * Builds archive members in one {@link MemberStyle}.
 *
 * @example
 * ```ts
 * const m = new MemberFactory({ fileMode: 0o444, dirMode: 0o555, mtime: 315532800 });
 * m.bytes("manifest.json", new TextEncoder().encode("[]"));
 * // { path: "manifest.json", type: "file", mode: 0o444, size: 2, uid: 0, gid: 0, mtime: 315532800, ... }
 * ```
 */
export class MemberFactory {
  /**
   * A factory for members in one style.
   *
   * @param style owner, modes and mtime of every member made
   */
  constructor(readonly style: MemberStyle) {}

  #base(path: string) {
    const s = this.style;
    return {
      path,
      uid: s.uid ?? 0,
      gid: s.gid ?? 0,
      uname: s.uname ?? "",
      gname: s.gname ?? "",
      mtime: s.mtime,
    };
  }

  /** A folder member. */
  dir(path: string): TarEntry {
    return { ...this.#base(path), type: "directory", mode: this.style.dirMode, size: 0 };
  }

  /** A file member holding `bytes`. */
  bytes(path: string, bytes: Uint8Array): TarEntry {
    return {
      ...this.#base(path),
      type: "file",
      mode: this.style.fileMode,
      size: bytes.length,
      body: { kind: "bytes", bytes },
    };
  }

  /**
   * A file member read from the blob store (the tar writer reads the blob
   * file straight into its chunks: no stream, no copy).
   */
  blob(path: string, store: BlobStore, digest: Digest, size: number): TarEntry {
    return {
      ...this.#base(path),
      type: "file",
      mode: this.style.fileMode,
      size,
      body: {
        kind: "stream",
        open: () => store.read(digest),
        fingerprint: digest,
        file: store.blobPath(digest),
      },
    };
  }
}

/**
 * Writes `entries` as an uncompressed tar to `output` (such as stdout, for a
 * stream), whose descriptor is `fd`. Members held in the blob store go from
 * the page cache to `fd` by `sendfile` where the runtime can call it (see
 * `host/send_file.ts`): nothing is copied through the process. Otherwise the
 * bytes go through a few reused chunk buffers, written directly while `fd`
 * takes them, then (a non-blocking pipe that is full) through `output`, each
 * chunk waited for. Every body must be readable without waiting (see
 * `writeTarSync`: bytes, host files, blobs).
 *
 * @example
 * ```ts
 * import process from "node:process";
 * const m = new MemberFactory({ fileMode: 0o644, dirMode: 0o755, mtime: 0 });
 * await writeTarTo(process.stdout, 1, [m.bytes("motd", new TextEncoder().encode("hi\n"))]);
 * ```
 */
export async function writeTarTo(
  output: NodeJS.WritableStream,
  fd: number,
  entries: readonly TarEntry[],
  onBytes?: (n: number) => void,
): Promise<void> {
  const sender = await fileSender();
  if (sender && entries.every(sendable)) {
    sendTar(sender, fd, entries, onBytes);
    return;
  }
  const pool = new BufferRecycler(4);
  let direct = true;
  for (const chunk of writeTarSync(entries, { pool })) {
    let offset = 0;
    while (direct && offset < chunk.length) {
      try {
        offset += writeSync(fd, chunk, offset, chunk.length - offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
        direct = false;
      }
    }
    if (offset < chunk.length) {
      await new Promise<void>((resolve, reject) =>
        output.write(chunk.subarray(offset), (error) => (error ? reject(error) : resolve()))
      );
    }
    onBytes?.(chunk.length);
    if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
      pool.give(chunk.buffer as ArrayBuffer);
    }
  }
}

/** Members `sendTar` writes: no body, bytes, or a blob file. */
function sendable(e: TarEntry): boolean {
  return !e.body || e.body.kind === "bytes" || (e.body.kind === "stream" && !!e.body.file);
}

/**
 * The tar of `entries` (see {@link sendable}) to `fd`: headers, small bodies
 * and padding gathered and written, each blob sent by `sendfile`. The same
 * bytes as `writeTarSync` (10240-byte records).
 */
function sendTar(
  sender: FileSender,
  fd: number,
  entries: readonly TarEntry[],
  onBytes?: (n: number) => void,
): void {
  const buffer = new Uint8Array(1 << 20);
  let used = 0;
  let total = 0;
  const flush = () => {
    if (used > 0) sender.write(buffer.subarray(0, used), fd);
    onBytes?.(used);
    used = 0;
  };
  const put = (bytes: Uint8Array) => {
    total += bytes.length;
    if (used + bytes.length > buffer.length) flush();
    if (bytes.length > buffer.length) {
      sender.write(bytes, fd);
      onBytes?.(bytes.length);
    } else {
      buffer.set(bytes, used);
      used += bytes.length;
    }
  };
  const zeros = (n: number) => put(new Uint8Array(n));
  for (const entry of entries) {
    put(encodeHeaderView(entry));
    const body = entry.body;
    if (body?.kind === "stream") {
      flush();
      sender.send(body.file!, entry.size, fd);
      onBytes?.(entry.size);
      total += entry.size;
    } else if (body?.kind === "bytes") {
      if (body.bytes.length !== entry.size) {
        throw new TypeError(
          `tar entry ${entry.path}: size ${entry.size} but ${body.bytes.length} bytes given`,
        );
      }
      put(body.bytes);
    }
    if (entry.type === "file") zeros(blockPadding(entry.size));
  }
  zeros(2 * BLOCK_SIZE);
  const rest = total % RECORD_SIZE;
  if (rest !== 0) zeros(RECORD_SIZE - rest);
  flush();
}

/** Tar record size (GNU tar's and Python's default). */
const RECORD_SIZE = 10240;

/** Record kind of compressed archives: a fingerprint of their members -> the blob. */
const ARCHIVES = "archives";

/**
 * Writes `entries` as a tar file at `target`, compressed with `compressor`,
 * atomically (a temp file renamed into place when complete).
 *
 * With `cache` (the blob store the entries' blobs come from), a compressed
 * archive is kept in the cache by the fingerprint of its members (their
 * names, modes, and each body's digest) and compressor: the same archive
 * again is a copy of that blob (a reflink where the file system can), not a
 * second compression of the whole archive. The output is always a copy the
 * user may change, never a link to the cache.
 *
 * @example
 * ```ts
 * const m = new MemberFactory({ fileMode: 0o644, dirMode: 0o755, mtime: 0 });
 * const motd = new TextEncoder().encode("hi\n");
 * await writeTarFile("out.tar.gz", [m.dir("etc"), m.bytes("etc/motd", motd)], "gz");
 * ```
 */
export async function writeTarFile(
  target: string,
  entries: readonly TarEntry[],
  compressor: Compressor,
  onBytes?: (n: number) => void,
  cache?: BlobStore,
): Promise<void> {
  if (compressor === "none") {
    await writeAtomically(target, (tmp) => writePlainTar(tmp, entries, onBytes));
    return;
  }
  if (!cache) {
    await writeAtomically(target, async (tmp) => {
      await writeCompressed(tmp, entries, compressor, onBytes);
    });
    return;
  }
  const key = fingerprintEntries(entries, { archive: await compressorId(compressor) });
  const known = key ? cache.getRecord<BlobRef>(ARCHIVES, key) : undefined;
  let blob: BlobRef;
  if (known && cache.has(known.digest)) {
    blob = known;
    onBytes?.(entries.reduce((n, e) => n + 512 + Math.ceil(e.size / 512) * 512, 1024));
  } else {
    const tmp = cache.tempFile();
    try {
      const digest = await writeCompressed(tmp, entries, compressor, onBytes);
      blob = cache.commit(tmp, digest);
    } catch (error) {
      discardTemp(tmp);
      throw error;
    }
    if (key) cache.putRecord(ARCHIVES, key, blob);
  }
  await writeAtomically(target, (tmp) => cache.copyOut(blob.digest, tmp));
}

/** An uncompressed tar at `path`: sync reads and writes through two reused buffers. */
function writePlainTar(
  path: string,
  entries: readonly TarEntry[],
  onBytes?: (n: number) => void,
): void {
  const fd = openSync(path, "w");
  try {
    const pool = new BufferRecycler(2);
    for (const chunk of writeTarSync(entries, { pool })) {
      writeAll(fd, chunk);
      onBytes?.(chunk.length);
      if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
        pool.give(chunk.buffer as ArrayBuffer);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The tar of `entries` (sync-readable bodies) through `compress`, its output
 * given to `out`; each input chunk is reused once the compressor has taken it.
 */
async function compressChunks(
  entries: readonly TarEntry[],
  compress: Transform,
  out: (bytes: Uint8Array) => void,
  onBytes?: (n: number) => void,
): Promise<void> {
  let failure: Error | undefined;
  compress.on("data", (bytes: Uint8Array) => {
    try {
      out(bytes);
    } catch (error) {
      failure ??= error as Error;
      compress.destroy(failure);
    }
  });
  const ended = once(compress, "end");
  const pool = new BufferRecycler(4);
  for (const chunk of writeTarSync(entries, { pool })) {
    onBytes?.(chunk.length);
    await new Promise<void>((resolve, reject) =>
      compress.write(chunk, (error) => (error ? reject(error) : resolve()))
    );
    if (failure) throw failure;
    if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
      pool.give(chunk.buffer as ArrayBuffer);
    }
  }
  compress.end();
  await ended;
  if (failure) throw failure;
}

/** A compressed tar at `path`; returns the digest of the bytes written. */
async function writeCompressed(
  path: string,
  entries: readonly TarEntry[],
  compressor: Compressor,
  onBytes?: (n: number) => void,
): Promise<Digest> {
  const compress = createCompressor(compressor)!;
  const count = async function* (source: AsyncIterable<Uint8Array>) {
    for await (const chunk of source) {
      onBytes?.(chunk.length);
      yield chunk;
    }
  };
  const hash = new Sha256Counter();
  const fd = openSync(path, "w");
  if (entries.every(sendable)) {
    // Each chunk goes back to a small pool once the compressor has taken it:
    // no garbage of fresh 1 MiB buffers per chunk (peak RSS, with -j).
    try {
      await compressChunks(entries, compress, (out) => {
        hash.update(out);
        writeAll(fd, out);
      }, onBytes);
    } finally {
      closeSync(fd);
    }
    return hash.digest();
  }
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Uint8Array, _encoding, done) {
      try {
        hash.update(chunk);
        writeAll(fd, chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  try {
    await pipeline(writeTar(entries) as unknown as Readable, count, compress, sink);
  } finally {
    closeSync(fd);
  }
  return hash.digest();
}
