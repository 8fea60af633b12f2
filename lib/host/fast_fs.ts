/**
 * The file-system calls of the tree walk, on the fastest API of each runtime.
 *
 * `node:fs` works in both runtimes, but under Deno its `lstatSync` and
 * `readdirSync` go through a compatibility layer that is about three times
 * slower than `Deno.lstatSync`/`Deno.readDirSync`; walking tens of thousands
 * of files makes that visible. Bun's `node:fs` is already native.
 *
 * @module
 */

import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";

/** The stat fields dockwright uses. */
export interface FastStat {
  kind: "file" | "directory" | "symlink" | "char" | "block" | "fifo" | "socket";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  rdev: number;
}

interface DenoFileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  isCharDevice: boolean | null;
  isBlockDevice: boolean | null;
  isFifo: boolean | null;
  size: number;
  mode: number | null;
  uid: number | null;
  gid: number | null;
  mtime: Date | null;
  ctime: Date | null;
  ino: number | null;
  dev: number;
  rdev: number | null;
}

interface DenoFs {
  lstatSync(path: string): DenoFileInfo;
  readDirSync(path: string): Iterable<{ name: string }>;
}

const deno = (globalThis as { Deno?: DenoFs }).Deno;

function fromDeno(i: DenoFileInfo): FastStat {
  const kind = i.isFile
    ? "file"
    : i.isDirectory
    ? "directory"
    : i.isSymlink
    ? "symlink"
    : i.isCharDevice
    ? "char"
    : i.isBlockDevice
    ? "block"
    : i.isFifo
    ? "fifo"
    : "socket";
  return {
    kind,
    mode: i.mode ?? 0,
    uid: i.uid ?? 0,
    gid: i.gid ?? 0,
    size: i.size,
    mtimeMs: i.mtime?.getTime() ?? 0,
    ctimeMs: i.ctime?.getTime() ?? 0,
    ino: i.ino ?? 0,
    dev: i.dev,
    rdev: i.rdev ?? 0,
  };
}

/**
 * lstat: information about `path` itself (symlinks are not followed).
 *
 * @example
 * ```ts
 * fastLstat("/etc/hostname").kind; // "file"
 * ```
 */
export function fastLstat(path: string): FastStat {
  if (deno) return fromDeno(deno.lstatSync(path));
  const s = lstatSync(path);
  const kind = s.isFile()
    ? "file"
    : s.isDirectory()
    ? "directory"
    : s.isSymbolicLink()
    ? "symlink"
    : s.isCharacterDevice()
    ? "char"
    : s.isBlockDevice()
    ? "block"
    : s.isFIFO()
    ? "fifo"
    : "socket";
  return {
    kind,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    mtimeMs: s.mtimeMs,
    ctimeMs: s.ctimeMs,
    ino: s.ino,
    dev: s.dev,
    rdev: s.rdev,
  };
}

/**
 * The names in folder `path`, in the order the file system gives them.
 *
 * @example
 * ```ts
 * fastReadDir("/etc"); // ["hostname", "passwd", ...]
 * ```
 */
export function fastReadDir(path: string): string[] {
  if (deno) return Array.from(deno.readDirSync(path), (e) => e.name);
  return readdirSync(path);
}

/** A file opened for sequential reading. */
export interface SequentialReader {
  /** Reads up to `length` bytes into `buf` at `offset`; returns 0 at end of file. */
  read(buf: Uint8Array, offset: number, length: number): number;
  close(): void;
}

interface DenoFile {
  readSync(p: Uint8Array): number | null;
  close(): void;
}

/**
 * Opens `path` for sequential reads with the runtime's fastest synchronous API.
 *
 * @example
 * ```ts
 * const f = openSequential("/etc/hostname");
 * const buf = new Uint8Array(4096);
 * const n = f.read(buf, 0, buf.length); // 0 at the end of the file
 * f.close();
 * ```
 */
export function openSequential(path: string): SequentialReader {
  const d = deno as unknown as { openSync?(p: string): DenoFile } | undefined;
  if (d?.openSync) {
    const file = d.openSync(path);
    return {
      read: (buf, offset, length) => file.readSync(buf.subarray(offset, offset + length)) ?? 0,
      close: () => file.close(),
    };
  }
  const fd = openSync(path, "r");
  let position = 0;
  return {
    read: (buf, offset, length) => {
      const n = readSync(fd, buf, offset, length, position);
      position += n;
      return n;
    },
    close: () => closeSync(fd),
  };
}
