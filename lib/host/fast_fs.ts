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

import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from "node:fs";

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
  readLinkSync(path: string): string;
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

/** lstat and readdir called in libc directly (Deno on Linux with --allow-ffi). */
interface LibcFs {
  lstat(path: string): FastStat;
  /** The names in a folder, or undefined when one is not UTF-8 (the caller asks Deno then). */
  readDir(path: string): string[] | undefined;
  /** Opens a folder (`name` relative to the open folder `dir`, or a path for null). */
  openDir(dir: unknown, name: string, path: string): unknown;
  /** The names in an open folder, or undefined when one is not UTF-8. */
  names(dir: unknown): string[] | undefined;
  /** lstat of `name` in an open folder: no lookup of the folder's own path. */
  lstatAt(dir: unknown, name: string, path: string): FastStat;
  closeDir(dir: unknown): void;
}

/** errno values of the failures callers tell apart, by their Node codes. */
const ERRNO_CODES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  20: "ENOTDIR",
  36: "ENAMETOOLONG",
  40: "ELOOP",
};

const S_IFMT = 0o170000;
const KINDS: Record<number, FastStat["kind"]> = {
  0o100000: "file",
  0o040000: "directory",
  0o120000: "symlink",
  0o020000: "char",
  0o060000: "block",
  0o010000: "fifo",
  0o140000: "socket",
};

/** glibc's `makedev`, as `st_dev` and `st_rdev` hold device numbers. */
function makedev(major: number, minor: number): number {
  return (major & 0xfffff000) * 2 ** 32 + ((major & 0xfff) << 8) +
    (minor & 0xffffff00) * 2 ** 12 + (minor & 0xff);
}

let libcFs: LibcFs | null | undefined;

/**
 * Under Deno on Linux with --allow-ffi: `statx` and `opendir`/`readdir` from
 * libc. Deno's own calls cost several microseconds each in the runtime
 * around the system call (and `Deno.lstatSync` gives ctime in whole
 * seconds); a closure's walk makes tens of thousands. Null elsewhere.
 */
function denoLibcFs(): LibcFs | null {
  if (libcFs !== undefined) return libcFs;
  libcFs = null;
  // deno-lint-ignore no-explicit-any
  const D = (globalThis as any).Deno;
  if (!D || D.build?.os !== "linux" || !["x86_64", "aarch64"].includes(D.build?.arch)) return null;
  try {
    // Asking first: without --allow-ffi, dlopen would prompt on a terminal.
    if (D.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const lib = D.dlopen("libc.so.6", {
      statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
      opendir: { parameters: ["buffer"], result: "pointer" },
      openat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
      fdopendir: { parameters: ["i32"], result: "pointer" },
      dirfd: { parameters: ["pointer"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      readdir64: { parameters: ["pointer"], result: "pointer" },
      closedir: { parameters: ["pointer"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    }).symbols;
    const encoder = new TextEncoder();
    let pathBuf = new Uint8Array(4096);
    const cPath = (path: string): Uint8Array => {
      if (path.length * 3 + 1 > pathBuf.length) pathBuf = new Uint8Array(path.length * 3 + 1);
      const { written } = encoder.encodeInto(path, pathBuf);
      pathBuf[written] = 0;
      return pathBuf;
    };
    const fail = (syscall: string, path: string): Error => {
      const errno = new D.UnsafePointerView(lib.__errno_location()).getInt32(0);
      const code = ERRNO_CODES[errno] ?? `E${errno}`;
      const error = new Error(`${code}: ${syscall} '${path}'`) as NodeJS.ErrnoException;
      error.code = code;
      error.errno = -errno;
      error.syscall = syscall;
      error.path = path;
      return error;
    };
    const statBuf = new Uint8Array(256);
    const v = new DataView(statBuf.buffer);
    const AT_FDCWD = -100;
    const AT_SYMLINK_NOFOLLOW = 0x100;
    const STATX_BASIC_STATS = 0x7ff;
    const O_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;
    // 64-bit fields as two 32-bit halves: no BigInt per file.
    const u64 = (at: number) => v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
    const ms = (at: number) =>
      (v.getUint32(at, true) + v.getInt32(at + 4, true) * 2 ** 32) * 1000 +
      Math.floor(v.getUint32(at + 8, true) / 1e6);
    const statAt = (fd: number, name: string, path: string): FastStat => {
      if (lib.statx(fd, cPath(name), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statBuf) !== 0) {
        throw fail("lstat", path);
      }
      const mode = v.getUint16(28, true);
      return {
        kind: KINDS[mode & S_IFMT] ?? "socket",
        mode,
        uid: v.getUint32(20, true),
        gid: v.getUint32(24, true),
        size: u64(40),
        mtimeMs: ms(112),
        ctimeMs: ms(96),
        ino: u64(32),
        dev: makedev(v.getUint32(136, true), v.getUint32(140, true)),
        rdev: makedev(v.getUint32(128, true), v.getUint32(132, true)),
      };
    };
    const strict = new TextDecoder("utf-8", { fatal: true });
    /** The entries of an open `DIR *`, or undefined when a name is not UTF-8. */
    const readNames = (dir: unknown): string[] | undefined => {
      const names: string[] = [];
      for (;;) {
        const entry = lib.readdir64(dir);
        if (entry === null) break;
        // struct dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        const view = new D.UnsafePointerView(entry);
        const length = view.getUint16(16);
        const raw = new Uint8Array(view.getArrayBuffer(length - 19, 19));
        const end = raw.indexOf(0);
        let name: string;
        try {
          name = strict.decode(end < 0 ? raw : raw.subarray(0, end));
        } catch {
          return undefined;
        }
        if (name !== "." && name !== "..") names.push(name);
      }
      return names;
    };
    libcFs = {
      lstat: (path) => statAt(AT_FDCWD, path, path),
      readDir(path) {
        const dir = lib.opendir(cPath(path));
        if (dir === null) throw fail("scandir", path);
        try {
          return readNames(dir);
        } finally {
          lib.closedir(dir);
        }
      },
      openDir(dir, name, path) {
        const at = dir === null ? AT_FDCWD : lib.dirfd(dir);
        const fd = lib.openat(at, cPath(name), O_DIRECTORY_CLOEXEC);
        if (fd < 0) throw fail("scandir", path);
        const opened = lib.fdopendir(fd);
        if (opened === null) {
          const error = fail("scandir", path);
          lib.close(fd);
          throw error;
        }
        return opened;
      },
      names: (dir) => readNames(dir),
      lstatAt: (dir, name, path) => statAt(lib.dirfd(dir), name, path),
      closeDir: (dir) => void lib.closedir(dir),
    };
  } catch {
    libcFs = null;
  }
  return libcFs;
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
  if (deno) {
    return (denoLibcFs() ?? { lstat: (p: string) => fromDeno(deno.lstatSync(p)) }).lstat(path);
  }
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
 * A file's identity for cache keys: device, inode, size, modification time
 * in whole milliseconds and change time in whole seconds. An edit changes the
 * modification time (and size, mostly); the change time catches a
 * modification time set back by hand. The text is the same in both runtimes,
 * so a cache filled by one is used by the other: Deno gives times in
 * milliseconds and the change time in seconds only, Bun both in fractions of
 * milliseconds.
 *
 * @example
 * ```ts
 * fileIdentity(fastLstat("/etc/hostname")); // "2049:1835010:13:1733090000123:1733090000"
 * ```
 */
export function fileIdentity(
  st: Pick<FastStat, "dev" | "ino" | "size" | "mtimeMs" | "ctimeMs">,
): string {
  return `${st.dev}:${st.ino}:${st.size}:${Math.floor(st.mtimeMs)}:${
    Math.floor(st.ctimeMs / 1000)
  }`;
}

/**
 * The target of the symlink `path`.
 *
 * @example
 * ```ts
 * fastReadLink("/bin"); // "usr/bin" on a merged-/usr system
 * ```
 */
export function fastReadLink(path: string): string {
  return deno ? deno.readLinkSync(path) : readlinkSync(path);
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
  if (deno) {
    return denoLibcFs()?.readDir(path) ?? Array.from(deno.readDirSync(path), (e) => e.name);
  }
  return readdirSync(path);
}

/**
 * An open folder for a walk: its names, and lstat and open of its entries by
 * name. Under Deno with libc (see `denoLibcFs`) the folder is held open, so
 * no entry's lookup walks the whole path again, as `find` does it; elsewhere
 * the calls take full paths.
 *
 * @example
 * ```ts
 * declare const dir: FastDir; // from openFastDir("/etc")
 * const sizes = dir.names().map((name) => dir.lstat(name).size);
 * ```
 */
export interface FastDir {
  /** The folder's path. */
  readonly path: string;
  /** The names in the folder, in the order the file system gives them. */
  names(): string[];
  /** lstat of the entry `name`. */
  lstat(name: string): FastStat;
  /** Opens the sub-folder `name`. */
  openDir(name: string): FastDir;
  /** Releases the folder (its sub-folders are closed by their own calls). */
  close(): void;
}

function pathDir(path: string): FastDir {
  return {
    path,
    names: () => fastReadDir(path),
    lstat: (name) => fastLstat(`${path}/${name}`),
    openDir: (name) => pathDir(`${path}/${name}`),
    close: () => {},
  };
}

function libcDir(libc: LibcFs, path: string, handle: unknown): FastDir {
  return {
    path,
    names: () => libc.names(handle) ?? Array.from(deno!.readDirSync(path), (e) => e.name),
    lstat: (name) => libc.lstatAt(handle, name, `${path}/${name}`),
    openDir: (name) => {
      const sub = `${path}/${name}`;
      return libcDir(libc, sub, libc.openDir(handle, name, sub));
    },
    close: () => libc.closeDir(handle),
  };
}

/**
 * Opens the folder `path` for a walk (close it when done).
 *
 * @example
 * ```ts
 * const dir = openFastDir("/etc");
 * try {
 *   for (const name of dir.names()) dir.lstat(name).size;
 * } finally {
 *   dir.close();
 * }
 * ```
 */
export function openFastDir(path: string): FastDir {
  const libc = deno ? denoLibcFs() : null;
  return libc ? libcDir(libc, path, libc.openDir(null, path, path)) : pathDir(path);
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
