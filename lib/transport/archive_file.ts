/**
 * Shared plumbing for sinks that produce one tar file: member constructors and
 * an atomic, optionally compressed, streaming writer.
 *
 * @module
 */

import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BlobStore } from "../cache/blob_store.ts";
import { type Compressor, createCompressor } from "../codec/compress.ts";
import type { Digest } from "../codec/sha256.ts";
import type { TarEntry } from "../tar/entry.ts";
import { writeTar } from "../tar/writer.ts";
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

  /** A file member streamed from the blob store. */
  blob(path: string, store: BlobStore, digest: Digest, size: number): TarEntry {
    return {
      ...this.#base(path),
      type: "file",
      mode: this.style.fileMode,
      size,
      body: { kind: "stream", open: () => store.read(digest), fingerprint: digest },
    };
  }
}

/**
 * Writes `entries` as a tar file at `target`, compressed with `compressor`,
 * atomically (a temp file renamed into place when complete).
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
): Promise<void> {
  await writeAtomically(target, async (tmp) => {
    const compress = createCompressor(compressor);
    const count = async function* (source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        onBytes?.(chunk.length);
        yield chunk;
      }
    };
    const sink = createWriteStream(tmp, { highWaterMark: 1 << 20 });
    const source = writeTar(entries) as unknown as Readable;
    if (compress) await pipeline(source, count, compress, sink);
    else await pipeline(source, count, sink);
  });
}
